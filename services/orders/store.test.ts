import { expect } from "chai";
import { storeEngines } from "../../test/support/store-engines.js";
import { openOrderStore } from "./open-store.js";
import type { Order } from "./order.js";
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

for (const engine of storeEngines) {
  describe(`order store on ${engine}`, () => {
    let temp: Awaited<ReturnType<typeof openTempStore>>;
    beforeEach(async () => {
      temp = await openTempStore(engine);
    });
    afterEach(() => temp.dispose());

    it("creates the schema and keeps orders across a reopen", async () => {
      await temp.store.insert(order("o1"));
      await temp.store.close();

      temp.store = await openOrderStore(temp.fresh.location);
      expect(await temp.store.get("o1")).to.deep.equal(order("o1"));
      expect(await temp.fresh.schemaVersion()).to.equal(4);
      if (engine === "sqlite") {
        expect((await temp.fresh.query<{ journal_mode: string }>("PRAGMA journal_mode"))[0]!.journal_mode).to.equal("wal");
      }
    });

    it("refuses a database migrated by a newer build", async () => {
      await temp.store.close();
      await temp.fresh.pretendSchemaVersion(99);

      let err: unknown;
      await openOrderStore(temp.fresh.location).then(
        (store) => store.close(),
        (e: unknown) => (err = e),
      );
      expect(String(err)).to.match(/newer than this build/);
      temp.store = await openOrderStore({ engine: "sqlite", path: ":memory:" });
    });

    it("stores one order per customer and request id", async () => {
      expect(await temp.store.insert(order("o1"))).to.equal(true);
      expect(await temp.store.insert(order("o2", { requestId: "req-o1" }))).to.equal(false);
      expect(await temp.store.insert(order("o3", { requestId: "req-o1", customerId: "bob" }))).to.equal(true);

      expect((await temp.store.findByRequest("alice", "req-o1"))?.orderId).to.equal("o1");
      expect(await temp.store.get("o2")).to.equal(undefined);
    });

    it("updates only from the expected step, and never touches cancel_requested", async () => {
      await temp.store.insert(order("o1"));
      await temp.store.requestCancel("o1", new Date());

      const moved = await temp.store.update(order("o1", { sagaStep: "AUTHORIZE", cardToken: "tok_visa" }), "RESERVE");
      const stale = await temp.store.update(order("o1", { sagaStep: "COMMIT" }), "RESERVE");

      expect(moved).to.include({ sagaStep: "AUTHORIZE", cancelRequested: true });
      expect(stale).to.equal(undefined);
      expect((await temp.store.get("o1"))?.sagaStep).to.equal("AUTHORIZE");
    });

    it("round-trips every saga field", async () => {
      await temp.store.insert(order("o1", { cardToken: "tok_visa" }));
      const compensating = order("o1", {
        sagaStep: "COMPENSATE",
        undo: ["VOID", "RELEASE"],
        paymentId: "pay_1",
        cancelReason: "PAYMENT_FAILED",
        cancelDetail: "processor down",
        updatedAt: new Date(Date.UTC(2025, 0, 2)),
      });

      expect(await temp.store.update(compensating, "RESERVE")).to.deep.equal(compensating);
    });

    it("marks only pending orders cancel-requested", async () => {
      await temp.store.insert(order("o1"));
      await temp.store.insert(order("o2", { state: "CONFIRMED", sagaStep: "DONE" }));

      await temp.store.requestCancel("o1", new Date());
      await temp.store.requestCancel("o2", new Date());

      expect((await temp.store.get("o1"))?.cancelRequested).to.equal(true);
      expect((await temp.store.get("o2"))?.cancelRequested).to.equal(false);
      expect(await temp.store.resumableOrderIds(0)).to.deep.equal(["o1"]);
    });

    it("lists newest first, breaking ties by order id, from a cursor", async () => {
      const t = (ms: number) => new Date(Date.UTC(2025, 0, 1) + ms);
      for (const [id, ms] of [["a", 1], ["b", 2], ["c", 2], ["d", 3]] as const) {
        await temp.store.insert(order(id, { createdAt: t(ms) }));
      }
      await temp.store.insert(order("x", { customerId: "bob", createdAt: t(9) }));

      const ids = (orders: Order[]) => orders.map((o) => o.orderId);
      expect(ids(await temp.store.listByCustomer("alice", 10))).to.deep.equal(["d", "c", "b", "a"]);
      expect(ids(await temp.store.listByCustomer("alice", 2, { createdAt: t(2), orderId: "c" }))).to.deep.equal(["b", "a"]);
    });

    it("lets one replica at a time hold a saga's lease, until it expires or is given up", async () => {
      await temp.store.insert(order("o1"), [], { owner: "a", untilMs: 1_000 });
      expect(await temp.store.resumableOrderIds(500)).to.deep.equal([]);
      expect(await temp.store.takeLease("o1", { owner: "b", untilMs: 2_000 }, 500)).to.equal(false);
      // The owner renews it.
      expect(await temp.store.takeLease("o1", { owner: "a", untilMs: 1_500 }, 600)).to.equal(true);
      expect(await temp.store.takeLease("o1", { owner: "b", untilMs: 2_000 }, 1_200)).to.equal(false);
      // Expired: another replica takes it over, and the old owner's writes are refused.
      expect(await temp.store.resumableOrderIds(1_501)).to.deep.equal(["o1"]);
      expect(await temp.store.takeLease("o1", { owner: "b", untilMs: 3_000 }, 1_501)).to.equal(true);
      expect(await temp.store.update(order("o1", { sagaStep: "AUTHORIZE" }), "RESERVE", [], "a")).to.equal(undefined);
      expect(await temp.store.update(order("o1", { sagaStep: "AUTHORIZE" }), "RESERVE", [], "b")).to.include({ sagaStep: "AUTHORIZE" });
      // Given up: free for anyone at once.
      await temp.store.releaseLease("o1", "a");
      expect(await temp.store.takeLease("o1", { owner: "c", untilMs: 4_000 }, 1_600)).to.equal(false);
      await temp.store.releaseLease("o1", "b");
      expect(await temp.store.resumableOrderIds(1_600)).to.deep.equal(["o1"]);
      expect(await temp.store.takeLease("o1", { owner: "c", untilMs: 4_000 }, 1_600)).to.equal(true);
      // Reaching DONE ends the lease; an ended order is never leased again.
      await temp.store.update(order("o1", { state: "CONFIRMED", sagaStep: "DONE" }), "AUTHORIZE", [], "c");
      expect(await temp.store.takeLease("o1", { owner: "c", untilMs: 5_000 }, 1_700)).to.equal(false);
      expect(await temp.store.resumableOrderIds(9_999)).to.deep.equal([]);
    });
  });
}
