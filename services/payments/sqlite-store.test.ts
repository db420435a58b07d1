import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import type { Payment } from "./model.js";
import { openSqlitePaymentStore } from "./sqlite-store.js";

const payment: Payment = {
  paymentId: "pay_1",
  orderId: "order-1",
  amountMinor: 4200,
  currencyCode: "USD",
  state: "AUTHORIZED",
  createdAtMs: 1000,
  updatedAtMs: 1000,
};

describe("openSqlitePaymentStore", () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "payments-store-"));
    path = join(dir, "payments.db");
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function pragma(name: string): unknown {
    const db = new Database(path, { readonly: true });
    try {
      return db.pragma(name, { simple: true });
    } finally {
      db.close();
    }
  }

  it("creates the schema in WAL mode, once", () => {
    openSqlitePaymentStore(path).close();
    expect(pragma("user_version")).to.equal(1);
    expect(pragma("journal_mode")).to.equal("wal");
    openSqlitePaymentStore(path).close();
    expect(pragma("user_version")).to.equal(1);
  });

  it("keeps payments and their keys across a reopen", () => {
    const store = openSqlitePaymentStore(path);
    store.insertPayment(payment, "key-1", "fingerprint-1");
    store.setState("pay_1", "CAPTURED", 2000);
    store.close();
    const reopened = openSqlitePaymentStore(path);
    const captured = { ...payment, state: "CAPTURED", updatedAtMs: 2000 };
    expect(reopened.findPayment("pay_1")).to.deep.equal(captured);
    expect(reopened.findByIdempotencyKey("key-1")).to.deep.equal({ payment: captured, fingerprint: "fingerprint-1" });
    expect(reopened.findByIdempotencyKey("key-2")).to.equal(undefined);
    reopened.close();
  });

  it("refuses a second payment under the same key", () => {
    const store = openSqlitePaymentStore(path);
    store.insertPayment(payment, "key-1", "fingerprint-1");
    expect(() => store.insertPayment({ ...payment, paymentId: "pay_2" }, "key-1", "fingerprint-1")).to.throw(/UNIQUE/);
    store.close();
  });

  it("refuses a database migrated by a newer build", () => {
    openSqlitePaymentStore(path).close();
    const db = new Database(path);
    db.pragma("user_version = 99");
    db.close();
    expect(() => openSqlitePaymentStore(path)).to.throw(/schema version 99/);
  });
});
