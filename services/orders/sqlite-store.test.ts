import { expect } from "chai";
import Database from "better-sqlite3";
import type { Order } from "./order.js";
import { openSqliteOrderStore } from "./sqlite-store.js";
import { openTempStore } from "./orders.fixture.js";

function order(orderId: string, extra: Partial<Order> = {}): Order {
  const at = new Date(Date.UTC(2025, 0, 1));
  return {
    orderId,
    customerId: "alice",
    requestId: `req-${orderId}`,
    requestFingerprint: "fp",
    lines: [{ sku: "MUG-001", quantity: 1, unitPriceMinor: 1200 }],
    totalMinor: 1200,
    currencyCode: "USD",
    state: "PENDING",
    cancelDetail: "",
    cancelRequested: false,
    sagaStep: "RESERVE",
    undo: [],
    createdAt: at,
    updatedAt: at,
    ...extra,
  };
}

describe("openSqliteOrderStore", () => {
  let temp: ReturnType<typeof openTempStore>;
  beforeEach(() => {
    temp = openTempStore();
  });
  afterEach(() => temp.dispose());

  it("creates the schema in WAL mode and keeps orders across a reopen", () => {
    temp.store.insert(order("o1"));
    temp.store.close();

    const reopened = openSqliteOrderStore(temp.path);
    try {
      expect(reopened.get("o1")).to.deep.equal(order("o1"));
    } finally {
      reopened.close();
    }
    const db = new Database(temp.path, { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).to.equal("wal");
      expect(db.pragma("user_version", { simple: true })).to.equal(3);
    } finally {
      db.close();
    }
    temp.store = openSqliteOrderStore(temp.path);
  });

  it("refuses a database migrated by a newer build", () => {
    temp.store.close();
    const db = new Database(temp.path);
    db.pragma("user_version = 99");
    db.close();

    expect(() => openSqliteOrderStore(temp.path)).to.throw(/newer than this build/);
    temp.store = openSqliteOrderStore(":memory:");
  });

  it("stores one order per customer and request id", () => {
    expect(temp.store.insert(order("o1"))).to.equal(true);
    expect(temp.store.insert(order("o2", { requestId: "req-o1" }))).to.equal(false);
    expect(temp.store.insert(order("o3", { requestId: "req-o1", customerId: "bob" }))).to.equal(true);

    expect(temp.store.findByRequest("alice", "req-o1")?.orderId).to.equal("o1");
    expect(temp.store.get("o2")).to.equal(undefined);
  });

  it("updates only from the expected step, and never touches cancel_requested", () => {
    temp.store.insert(order("o1"));
    temp.store.requestCancel("o1", new Date());

    const moved = temp.store.update(order("o1", { sagaStep: "AUTHORIZE", cardToken: "tok_visa" }), "RESERVE");
    const stale = temp.store.update(order("o1", { sagaStep: "COMMIT" }), "RESERVE");

    expect(moved).to.include({ sagaStep: "AUTHORIZE", cancelRequested: true });
    expect(stale).to.equal(undefined);
    expect(temp.store.get("o1")?.sagaStep).to.equal("AUTHORIZE");
  });

  it("round-trips every saga field", () => {
    temp.store.insert(order("o1", { cardToken: "tok_visa" }));
    const compensating = order("o1", {
      sagaStep: "COMPENSATE",
      undo: ["VOID", "RELEASE"],
      paymentId: "pay_1",
      cancelReason: "PAYMENT_FAILED",
      cancelDetail: "processor down",
      updatedAt: new Date(Date.UTC(2025, 0, 2)),
    });

    expect(temp.store.update(compensating, "RESERVE")).to.deep.equal(compensating);
  });

  it("marks only pending orders cancel-requested", () => {
    temp.store.insert(order("o1"));
    temp.store.insert(order("o2", { state: "CONFIRMED", sagaStep: "DONE" }));

    temp.store.requestCancel("o1", new Date());
    temp.store.requestCancel("o2", new Date());

    expect(temp.store.get("o1")?.cancelRequested).to.equal(true);
    expect(temp.store.get("o2")?.cancelRequested).to.equal(false);
    expect(temp.store.pendingOrderIds()).to.deep.equal(["o1"]);
  });

  it("lists newest first, breaking ties by order id, from a cursor", () => {
    const t = (ms: number) => new Date(Date.UTC(2025, 0, 1) + ms);
    for (const [id, ms] of [["a", 1], ["b", 2], ["c", 2], ["d", 3]] as const) {
      temp.store.insert(order(id, { createdAt: t(ms) }));
    }
    temp.store.insert(order("x", { customerId: "bob", createdAt: t(9) }));

    const ids = (orders: Order[]) => orders.map((o) => o.orderId);
    expect(ids(temp.store.listByCustomer("alice", 10))).to.deep.equal(["d", "c", "b", "a"]);
    expect(ids(temp.store.listByCustomer("alice", 2, { createdAt: t(2), orderId: "c" }))).to.deep.equal(["b", "a"]);
  });
});
