import { expect } from "chai";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import type { Payment } from "./model.js";
import { openPaymentStore } from "./open-store.js";

const payment: Payment = {
  paymentId: "pay_1",
  orderId: "order-1",
  amountMinor: 4200,
  currencyCode: "USD",
  state: "AUTHORIZED",
  createdAtMs: 1000,
  updatedAtMs: 1000,
};

for (const engine of storeEngines) {
  describe(`payment store on ${engine}`, () => {
    let fresh: FreshStore;

    beforeEach(async () => {
      fresh = await freshStore(engine, "payments");
    });

    afterEach(() => fresh.dispose());

    it("creates the schema, once", async () => {
      await (await openPaymentStore(fresh.location)).close();
      expect(await fresh.schemaVersion()).to.equal(1);
      if (engine === "sqlite") {
        expect((await fresh.query<{ journal_mode: string }>("PRAGMA journal_mode"))[0]!.journal_mode).to.equal("wal");
      }
      await (await openPaymentStore(fresh.location)).close();
      expect(await fresh.schemaVersion()).to.equal(1);
    });

    it("keeps payments and their keys across a reopen", async () => {
      const store = await openPaymentStore(fresh.location);
      await store.insertPayment(payment, "key-1", "fingerprint-1");
      await store.setState("pay_1", "CAPTURED", 2000);
      await store.close();
      const reopened = await openPaymentStore(fresh.location);
      const captured = { ...payment, state: "CAPTURED", updatedAtMs: 2000 };
      expect(await reopened.findPayment("pay_1")).to.deep.equal(captured);
      expect(await reopened.findByIdempotencyKey("key-1")).to.deep.equal({ payment: captured, fingerprint: "fingerprint-1" });
      expect(await reopened.findByIdempotencyKey("key-2")).to.equal(undefined);
      await reopened.close();
    });

    it("refuses a second payment under the same key", async () => {
      const store = await openPaymentStore(fresh.location);
      await store.insertPayment(payment, "key-1", "fingerprint-1");
      let err: unknown;
      await store.insertPayment({ ...payment, paymentId: "pay_2" }, "key-1", "fingerprint-1").catch((e: unknown) => (err = e));
      expect(String(err)).to.match(/UNIQUE|duplicate key/);
      await store.close();
    });

    it("rolls back every write of a transaction that rejects", async () => {
      const store = await openPaymentStore(fresh.location);
      await store.insertPayment(payment, "key-1", "fingerprint-1");
      const failing = store.transaction(async (tx) => {
        await tx.setState("pay_1", "CAPTURED", 2000);
        throw new Error("boom");
      });
      await failing.then(
        () => expect.fail("the transaction should reject"),
        (err: unknown) => expect(String(err)).to.contain("boom"),
      );
      expect((await store.findPayment("pay_1"))?.state).to.equal("AUTHORIZED");
      await store.close();
    });

    it("refuses a database migrated by a newer build", async () => {
      await (await openPaymentStore(fresh.location)).close();
      await fresh.pretendSchemaVersion(99);
      let err: unknown;
      await openPaymentStore(fresh.location).then(
        (store) => store.close(),
        (e: unknown) => (err = e),
      );
      expect(String(err)).to.match(/schema version 99/);
    });
  });
}
