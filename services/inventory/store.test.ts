import { expect } from "chai";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import { openInventoryStore } from "./open-store.js";

for (const engine of storeEngines) {
  describe(`inventory store on ${engine}`, () => {
    let fresh: FreshStore;

    beforeEach(async () => {
      fresh = await freshStore(engine, "inventory");
    });

    afterEach(() => fresh.dispose());

    const count = async () => (await fresh.query<{ n: number }>("SELECT COUNT(*) AS n FROM items"))[0]!.n;

    it("creates the schema and seeds the catalogue once", async () => {
      await (await openInventoryStore(fresh.location)).close();
      expect(await fresh.schemaVersion()).to.equal(4);
      if (engine === "sqlite") {
        expect((await fresh.query<{ journal_mode: string }>("PRAGMA journal_mode"))[0]!.journal_mode).to.equal("wal");
      }
      expect(await count()).to.be.at.least(8);

      const seeded = await count();
      await (await openInventoryStore(fresh.location)).close();
      expect(await fresh.schemaVersion()).to.equal(4);
      expect(await count()).to.equal(seeded);
    });

    it("keeps committed writes across a reopen", async () => {
      const store = await openInventoryStore(fresh.location);
      await store.transaction((tx) => tx.changeStock("MUG-001", { available: -3, reserved: 3, sold: 0 }, { cause: "RESERVED", orderId: "o1" }));
      await store.close();
      const reopened = await openInventoryStore(fresh.location);
      expect((await reopened.transaction((tx) => tx.findItem("MUG-001")))?.stock).to.deep.equal({ available: 97, reserved: 3, sold: 0 });
      await reopened.close();
    });

    it("rolls back every write of a transaction that rejects", async () => {
      const store = await openInventoryStore(fresh.location);
      let err: unknown;
      await store
        .transaction(async (tx) => {
          await tx.changeStock("MUG-001", { available: -3, reserved: 3, sold: 0 }, { cause: "RESERVED", orderId: "o1" });
          throw new Error("boom");
        })
        .catch((e: unknown) => (err = e));
      expect(String(err)).to.contain("boom");
      expect((await store.transaction((tx) => tx.findItem("MUG-001")))?.stock).to.deep.equal({ available: 100, reserved: 0, sold: 0 });
      expect(await fresh.query("SELECT * FROM outbox")).to.deep.equal([]);
      await store.close();
    });

    it("refuses stock below zero even if a caller forgets to check", async () => {
      const store = await openInventoryStore(fresh.location);
      let err: unknown;
      await store
        .transaction((tx) => tx.changeStock("MUG-001", { available: -101, reserved: 0, sold: 0 }, { cause: "ADJUSTED" }))
        .catch((e: unknown) => (err = e));
      expect(String(err)).to.match(/CHECK constraint|check constraint/);
      await store.close();
    });

    it("refuses a database migrated by a newer build", async () => {
      await (await openInventoryStore(fresh.location)).close();
      await fresh.pretendSchemaVersion(99);
      let err: unknown;
      await openInventoryStore(fresh.location).then(
        (store) => store.close(),
        (e: unknown) => (err = e),
      );
      expect(String(err)).to.match(/schema version 99/);
    });
  });
}

describe("inventory store on SQLite in memory", () => {
  it("opens an in-memory database", async () => {
    const store = await openInventoryStore({ engine: "sqlite", path: ":memory:" });
    expect((await store.transaction((tx) => tx.listItems("", 100))).length).to.be.at.least(8);
    await store.close();
  });
});
