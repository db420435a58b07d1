import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { openSqliteInventoryStore } from "./sqlite-store.js";

describe("openSqliteInventoryStore", () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "inventory-store-"));
    path = join(dir, "inventory.db");
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function inspect<T>(query: (db: Database.Database) => T): T {
    const db = new Database(path, { readonly: true });
    try {
      return query(db);
    } finally {
      db.close();
    }
  }

  it("creates the schema in WAL mode and seeds the catalogue once", () => {
    openSqliteInventoryStore(path).close();
    const version = inspect((db) => db.pragma("user_version", { simple: true }));
    expect(version).to.equal(4);
    expect(inspect((db) => db.pragma("journal_mode", { simple: true }))).to.equal("wal");
    const count = () => inspect((db) => db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM items").get()!.n);
    expect(count()).to.be.at.least(8);

    const seeded = count();
    openSqliteInventoryStore(path).close();
    expect(inspect((db) => db.pragma("user_version", { simple: true }))).to.equal(4);
    expect(count()).to.equal(seeded);
  });

  it("keeps committed writes across a reopen", () => {
    const store = openSqliteInventoryStore(path);
    store.transaction(() => store.changeStock("MUG-001", { available: -3, reserved: 3, sold: 0 }, { cause: "RESERVED", orderId: "o1" }));
    store.close();
    const reopened = openSqliteInventoryStore(path);
    expect(reopened.findItem("MUG-001")?.stock).to.deep.equal({ available: 97, reserved: 3, sold: 0 });
    reopened.close();
  });

  it("rolls back every write of a transaction that throws", () => {
    const store = openSqliteInventoryStore(path);
    expect(() =>
      store.transaction(() => {
        store.changeStock("MUG-001", { available: -3, reserved: 3, sold: 0 }, { cause: "RESERVED", orderId: "o1" });
        throw new Error("boom");
      }),
    ).to.throw("boom");
    expect(store.findItem("MUG-001")?.stock).to.deep.equal({ available: 100, reserved: 0, sold: 0 });
    store.close();
  });

  it("refuses stock below zero even if a caller forgets to check", () => {
    const store = openSqliteInventoryStore(path);
    expect(() => store.changeStock("MUG-001", { available: -101, reserved: 0, sold: 0 }, { cause: "ADJUSTED" })).to.throw(/CHECK constraint/);
    store.close();
  });

  it("refuses a database migrated by a newer build", () => {
    openSqliteInventoryStore(path).close();
    const db = new Database(path);
    db.pragma("user_version = 99");
    db.close();
    expect(() => openSqliteInventoryStore(path)).to.throw(/schema version 99/);
  });

  it("opens an in-memory database", () => {
    const store = openSqliteInventoryStore(":memory:");
    expect(store.listItems("", 100).length).to.be.at.least(8);
    store.close();
  });
});
