import { expect } from "chai";
import { Code, ConnectError, reasonMetadataOf, reasonOf } from "../../mesh/errors.js";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import { Inventory } from "./inventory.js";
import type { InventoryStore } from "./inventory-store.js";
import type { Item, ReservationLine } from "./model.js";
import { openInventoryStore } from "./open-store.js";

const start = Date.parse("2030-01-01T00:00:00Z");
const fifteenMinutes = 15 * 60 * 1000;

for (const engine of storeEngines) describe(`Inventory on ${engine}`, () => {
  let fresh: FreshStore;
  let store: InventoryStore;
  let nowMs: number;
  let inventory: Inventory;

  beforeEach(async () => {
    fresh = await freshStore(engine, "inventory");
    store = await openInventoryStore(fresh.location);
    nowMs = start;
    inventory = new Inventory({ store, now: () => nowMs });
  });

  afterEach(async () => {
    await store.close();
    await fresh.dispose();
  });

  /** Every row of every table, read on a separate connection: what a failing call must leave untouched. */
  async function snapshot(): Promise<Record<string, unknown[]>> {
    const tables =
      engine === "sqlite"
        ? await fresh.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        : await fresh.query<{ name: string }>(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
          );
    const rows: Record<string, unknown[]> = {};
    for (const { name } of tables) {
      // Every table's rows in a stable order: all columns, left to right.
      const columns = Object.keys((await fresh.query(`SELECT * FROM "${name}" LIMIT 1`))[0] ?? {});
      const order = columns.length === 0 ? "" : ` ORDER BY ${columns.map((_, i) => i + 1).join(", ")}`;
      rows[name] = await fresh.query(`SELECT * FROM "${name}"${order}`);
    }
    return rows;
  }

  /** Awaits `call`, expects it to fail with `code` (and `reason`), and checks that it wrote nothing. */
  async function expectFailure(call: () => unknown, code: Code, reason?: string): Promise<ConnectError> {
    const before = await snapshot();
    let caught: unknown;
    try {
      await call();
    } catch (err) {
      caught = err;
    }
    expect(caught, "the call should fail").to.be.instanceOf(ConnectError);
    const err = caught as ConnectError;
    expect(Code[err.code]).to.equal(Code[code]);
    expect(reasonOf(err)).to.equal(reason);
    expect(await snapshot()).to.deep.equal(before);
    return err;
  }

  async function stockOf(sku: string): Promise<Item["stock"]> {
    return (await inventory.getItem(sku)).stock;
  }

  describe("catalogue", () => {
    it("is seeded with at least 8 priced items in stock", async () => {
      const { items } = await inventory.listItems(100, "");
      expect(items.length).to.be.at.least(8);
      for (const item of items) {
        expect(item.sku).to.match(/^[A-Z0-9][A-Z0-9-]*$/);
        expect(item.name).to.not.equal("");
        expect(item.description).to.not.equal("");
        expect(item.priceMinor).to.be.greaterThan(0);
        expect(item.currencyCode).to.equal("USD");
        expect(item.stock.available).to.be.within(25, 100);
        expect(item.stock.reserved).to.equal(0);
        expect(item.stock.sold).to.equal(0);
      }
    });

    it("gets one item by SKU", async () => {
      const mug = await inventory.getItem("MUG-001");
      expect(mug).to.include({ sku: "MUG-001", name: "Mug", priceMinor: 1400, currencyCode: "USD" });
      expect(mug.stock).to.deep.equal({ available: 100, reserved: 0, sold: 0 });
    });

    it("refuses an unknown SKU with NotFound", async () => {
      await expectFailure(() => inventory.getItem("NOPE-404"), Code.NotFound);
    });

    it("pages through every item in SKU order, with no gaps or repeats", async () => {
      const all = (await inventory.listItems(100, "")).items.map((item) => item.sku);
      const seen: string[] = [];
      let token = "";
      do {
        const page = await inventory.listItems(3, token);
        expect(page.items.length).to.be.at.most(3);
        seen.push(...page.items.map((item) => item.sku));
        token = page.nextPageToken;
      } while (token !== "");
      expect(seen).to.deep.equal(all);
      expect(seen).to.deep.equal([...seen].sort());
    });

    it("returns 20 items by default and no token on the last page", async () => {
      const page = await inventory.listItems(0, "");
      expect(page.items.length).to.equal(Math.min(20, (await inventory.listItems(100, "")).items.length));
      expect(page.nextPageToken).to.equal("");
    });

    it("ends with an empty token when the last page is exactly full", async () => {
      const count = (await inventory.listItems(100, "")).items.length;
      expect((await inventory.listItems(count, "")).nextPageToken).to.equal("");
    });

    for (const token of ["!!!", "bXVnLTAwMQ", "TVVHLTAwMQ==", "TVVHLTAwMQ.", "_w"]) {
      it(`refuses the page token ${JSON.stringify(token)} with InvalidArgument`, async () => {
        await expectFailure(() => inventory.listItems(5, token), Code.InvalidArgument, "INVALID_PAGE_TOKEN");
      });
    }
  });

  describe("reserve", () => {
    const lines: ReservationLine[] = [
      { sku: "MUG-001", quantity: 2 },
      { sku: "TEE-001", quantity: 3 },
    ];

    it("holds every line and expires after the default TTL", async () => {
      const reservation = await inventory.reserve({ orderId: "order-1", lines });
      expect(reservation).to.deep.equal({ orderId: "order-1", lines, state: "ACTIVE", expiresAtMs: start + fifteenMinutes });
      expect(await stockOf("MUG-001")).to.deep.equal({ available: 98, reserved: 2, sold: 0 });
      expect(await stockOf("TEE-001")).to.deep.equal({ available: 47, reserved: 3, sold: 0 });
    });

    it("uses the TTL of the request when it names one", async () => {
      const reservation = await inventory.reserve({ orderId: "order-1", lines, ttlMs: 60_000 });
      expect(reservation.expiresAtMs).to.equal(start + 60_000);
    });

    it("uses the configured default TTL", async () => {
      const custom = new Inventory({ store, now: () => nowMs, defaultReservationTtlMs: 1000 });
      expect((await custom.reserve({ orderId: "order-1", lines })).expiresAtMs).to.equal(start + 1000);
    });

    it("refuses a nonsensical default TTL", async () => {
      expect(() => new Inventory({ store, defaultReservationTtlMs: 0 })).to.throw(RangeError);
    });

    it("holds nothing when one line lacks stock", async () => {
      const err = await expectFailure(
        () => inventory.reserve({ orderId: "order-1", lines: [lines[0]!, { sku: "HOODIE-001", quantity: 26 }] }),
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
      );
      expect(reasonMetadataOf(err)).to.deep.equal({ sku: "HOODIE-001", available: "25", requested: "26" });
    });

    it("holds nothing when one SKU is unknown", async () => {
      await expectFailure(
        () => inventory.reserve({ orderId: "order-1", lines: [lines[0]!, { sku: "NOPE-404", quantity: 1 }] }),
        Code.NotFound,
      );
    });

    it("refuses a SKU that appears twice", async () => {
      const err = await expectFailure(
        () => inventory.reserve({ orderId: "order-1", lines: [lines[0]!, lines[1]!, { sku: "MUG-001", quantity: 1 }] }),
        Code.InvalidArgument,
        "DUPLICATE_SKU",
      );
      expect(reasonMetadataOf(err)).to.deep.equal({ sku: "MUG-001" });
    });

    it("returns the existing reservation for the same lines, holding stock once", async () => {
      const first = await inventory.reserve({ orderId: "order-1", lines });
      nowMs += 1000;
      const again = await inventory.reserve({ orderId: "order-1", lines: [...lines].reverse(), ttlMs: 5000 });
      expect(again).to.deep.equal(first);
      expect(await stockOf("MUG-001")).to.deep.equal({ available: 98, reserved: 2, sold: 0 });
    });

    it("returns the reservation unchanged once committed, released or expired", async () => {
      await inventory.reserve({ orderId: "committed", lines });
      await inventory.commit("committed");
      await inventory.reserve({ orderId: "released", lines });
      await inventory.release("released");
      await inventory.reserve({ orderId: "expired", lines, ttlMs: 1000 });
      nowMs += 1000;
      await inventory.expireDue();
      const before = await snapshot();
      expect((await inventory.reserve({ orderId: "committed", lines })).state).to.equal("COMMITTED");
      expect((await inventory.reserve({ orderId: "released", lines })).state).to.equal("RELEASED");
      expect((await inventory.reserve({ orderId: "expired", lines })).state).to.equal("EXPIRED");
      expect(await snapshot()).to.deep.equal(before);
    });

    it("refuses other lines under the same order id", async () => {
      await inventory.reserve({ orderId: "order-1", lines });
      for (const other of [
        [lines[0]!],
        [lines[0]!, { sku: "TEE-001", quantity: 4 }],
        [lines[0]!, lines[1]!, { sku: "CAP-001", quantity: 1 }],
      ]) {
        const err = await expectFailure(
          () => inventory.reserve({ orderId: "order-1", lines: other }),
          Code.AlreadyExists,
          "IDEMPOTENCY_KEY_REUSED",
        );
        expect(reasonMetadataOf(err)).to.deep.equal({ order_id: "order-1" });
      }
    });

    it("can take the last unit of an item", async () => {
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 25 }] });
      expect(await stockOf("HOODIE-001")).to.deep.equal({ available: 0, reserved: 25, sold: 0 });
      await expectFailure(
        () => inventory.reserve({ orderId: "order-2", lines: [{ sku: "HOODIE-001", quantity: 1 }] }),
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
      );
    });
  });

  describe("release", () => {
    const lines = [{ sku: "CAP-001", quantity: 5 }];

    it("returns an active reservation's stock, and is idempotent", async () => {
      await inventory.reserve({ orderId: "order-1", lines });
      expect((await inventory.release("order-1")).state).to.equal("RELEASED");
      expect(await stockOf("CAP-001")).to.deep.equal({ available: 35, reserved: 0, sold: 0 });
      const before = await snapshot();
      expect((await inventory.release("order-1")).state).to.equal("RELEASED");
      expect(await snapshot()).to.deep.equal(before);
    });

    it("returns an expired reservation unchanged", async () => {
      await inventory.reserve({ orderId: "order-1", lines, ttlMs: 1000 });
      nowMs += 1000;
      expect((await inventory.release("order-1")).state).to.equal("EXPIRED");
      expect(await stockOf("CAP-001")).to.deep.equal({ available: 35, reserved: 0, sold: 0 });
    });

    it("refuses a committed reservation", async () => {
      await inventory.reserve({ orderId: "order-1", lines });
      await inventory.commit("order-1");
      await expectFailure(() => inventory.release("order-1"), Code.FailedPrecondition, "RESERVATION_COMMITTED");
    });

    it("refuses an unknown order with NotFound", async () => {
      await expectFailure(() => inventory.release("order-404"), Code.NotFound);
    });
  });

  describe("commit", () => {
    const lines = [{ sku: "CAP-001", quantity: 5 }];

    it("turns reserved stock into sold stock, and is idempotent", async () => {
      await inventory.reserve({ orderId: "order-1", lines });
      expect((await inventory.commit("order-1")).state).to.equal("COMMITTED");
      expect(await stockOf("CAP-001")).to.deep.equal({ available: 30, reserved: 0, sold: 5 });
      const before = await snapshot();
      expect((await inventory.commit("order-1")).state).to.equal("COMMITTED");
      expect(await snapshot()).to.deep.equal(before);
    });

    it("commits a reservation until the last millisecond of its TTL", async () => {
      await inventory.reserve({ orderId: "order-1", lines, ttlMs: 1000 });
      nowMs += 999;
      expect((await inventory.commit("order-1")).state).to.equal("COMMITTED");
    });

    it("refuses a released reservation", async () => {
      await inventory.reserve({ orderId: "order-1", lines });
      await inventory.release("order-1");
      await expectFailure(() => inventory.commit("order-1"), Code.FailedPrecondition, "RESERVATION_RELEASED");
    });

    it("refuses an expired reservation", async () => {
      await inventory.reserve({ orderId: "order-1", lines, ttlMs: 1000 });
      nowMs += 1000;
      await inventory.expireDue();
      await expectFailure(() => inventory.commit("order-1"), Code.FailedPrecondition, "RESERVATION_EXPIRED");
    });

    it("refuses an unknown order with NotFound", async () => {
      await expectFailure(() => inventory.commit("order-404"), Code.NotFound);
    });
  });

  describe("expiry", () => {
    it("returns the stock of a reservation past its TTL on the next read", async () => {
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 10 }], ttlMs: 60_000 });
      nowMs += 59_999;
      expect(await stockOf("MUG-001")).to.deep.equal({ available: 90, reserved: 10, sold: 0 });
      nowMs += 1;
      expect(await stockOf("MUG-001")).to.deep.equal({ available: 100, reserved: 0, sold: 0 });
      expect((await inventory.listItems(100, "")).items.find((item) => item.sku === "MUG-001")?.stock.reserved).to.equal(0);
    });

    it("frees expired stock for a new reservation in the same call", async () => {
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 25 }], ttlMs: 1000 });
      nowMs += 1000;
      const reservation = await inventory.reserve({ orderId: "order-2", lines: [{ sku: "HOODIE-001", quantity: 25 }] });
      expect(reservation.state).to.equal("ACTIVE");
      expect((await inventory.release("order-1")).state).to.equal("EXPIRED");
      expect(await stockOf("HOODIE-001")).to.deep.equal({ available: 0, reserved: 25, sold: 0 });
    });

    it("sweeps every due reservation and counts them", async () => {
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 1 }], ttlMs: 1000 });
      await inventory.reserve({ orderId: "order-2", lines: [{ sku: "MUG-001", quantity: 2 }], ttlMs: 2000 });
      await inventory.reserve({ orderId: "order-3", lines: [{ sku: "MUG-001", quantity: 4 }], ttlMs: 3000 });
      await inventory.commit("order-1");
      nowMs += 2000;
      expect(await inventory.expireDue()).to.equal(1);
      expect(await inventory.expireDue()).to.equal(0);
      expect(await stockOf("MUG-001")).to.deep.equal({ available: 95, reserved: 4, sold: 1 });
    });

    it("keeps an expired reservation's stock when a failing call rolls back", async () => {
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 1 }], ttlMs: 1000 });
      nowMs += 1000;
      await expectFailure(() => inventory.commit("order-404"), Code.NotFound);
      expect(await inventory.expireDue()).to.equal(1);
    });
  });

  describe("adjust", () => {
    it("adds and removes available stock", async () => {
      const added = await inventory.adjust({ adjustmentId: "adj-1", sku: "MUG-001", delta: 10, reason: "delivery" });
      expect(added.stock).to.deep.equal({ available: 110, reserved: 0, sold: 0 });
      expect(added).to.include({ sku: "MUG-001", name: "Mug", priceMinor: 1400 });
      const removed = await inventory.adjust({ adjustmentId: "adj-2", sku: "MUG-001", delta: -110, reason: "" });
      expect(removed.stock).to.deep.equal({ available: 0, reserved: 0, sold: 0 });
    });

    it("returns the first result for the same request and changes nothing", async () => {
      const request = { adjustmentId: "adj-1", sku: "MUG-001", delta: 10, reason: "delivery" };
      const first = await inventory.adjust(request);
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 3 }] });
      const before = await snapshot();
      expect(await inventory.adjust(request)).to.deep.equal(first);
      expect(await snapshot()).to.deep.equal(before);
      expect(await stockOf("MUG-001")).to.deep.equal({ available: 107, reserved: 3, sold: 0 });
    });

    it("refuses a different request under the same id", async () => {
      await inventory.adjust({ adjustmentId: "adj-1", sku: "MUG-001", delta: 10, reason: "delivery" });
      for (const other of [
        { sku: "TEE-001", delta: 10, reason: "delivery" },
        { sku: "MUG-001", delta: 11, reason: "delivery" },
        { sku: "MUG-001", delta: 10, reason: "recount" },
      ]) {
        const err = await expectFailure(
          () => inventory.adjust({ adjustmentId: "adj-1", ...other }),
          Code.AlreadyExists,
          "IDEMPOTENCY_KEY_REUSED",
        );
        expect(reasonMetadataOf(err)).to.deep.equal({ adjustment_id: "adj-1" });
      }
    });

    it("refuses to take available stock below zero", async () => {
      await inventory.reserve({ orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 20 }] });
      const err = await expectFailure(
        () => inventory.adjust({ adjustmentId: "adj-1", sku: "HOODIE-001", delta: -6, reason: "damaged" }),
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
      );
      expect(reasonMetadataOf(err)).to.deep.equal({ sku: "HOODIE-001", available: "5", requested: "6" });
    });

    it("refuses stock beyond what the contract's int32 can carry", async () => {
      await inventory.adjust({ adjustmentId: "adj-1", sku: "MUG-001", delta: 2_147_483_647 - 100, reason: "" });
      await expectFailure(
        () => inventory.adjust({ adjustmentId: "adj-2", sku: "MUG-001", delta: 1, reason: "" }),
        Code.OutOfRange,
        "STOCK_LIMIT_EXCEEDED",
      );
    });

    it("refuses an unknown SKU with NotFound", async () => {
      await expectFailure(() => inventory.adjust({ adjustmentId: "adj-1", sku: "NOPE-404", delta: 1, reason: "" }), Code.NotFound);
    });
  });

  it("keeps available + reserved + sold == seeded + adjustments through any mix of operations", async () => {
    const seeded = new Map((await inventory.listItems(100, "")).items.map((item) => [item.sku, item.stock.available]));
    const skus = [...seeded.keys()];
    const adjusted = new Map(skus.map((sku) => [sku, 0]));
    const random = mulberry32(42);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const orderIds: string[] = [];
    // Mostly one of the last few orders, so commits and releases find active reservations.
    const someOrder = () => (orderIds.length > 0 && random() < 0.9 ? pick(orderIds.slice(-10)) : "order-404");

    // Fewer steps on PostgreSQL, whose transactions cost round trips: the same property, a shorter walk.
    const steps = engine === "sqlite" ? 2000 : 500;
    for (let step = 0; step < steps; step++) {
      nowMs += Math.floor(random() * 5000);
      try {
        switch (pick(["reserve", "release", "commit", "adjust", "sweep"] as const)) {
          case "reserve": {
            const chosen = [...new Set([pick(skus), pick(skus), pick(skus)])];
            const lines = chosen.map((sku) => ({ sku, quantity: 1 + Math.floor(random() * 15) }));
            const orderId = random() < 0.8 ? `order-${step}` : someOrder();
            await inventory.reserve({ orderId, lines, ttlMs: 1000 + Math.floor(random() * 120_000) });
            orderIds.push(orderId);
            break;
          }
          case "release":
            await inventory.release(someOrder());
            break;
          case "commit":
            await inventory.commit(someOrder());
            break;
          case "adjust": {
            const sku = pick(skus);
            const delta = Math.floor(random() * 41) - 20 || 1;
            const id = `adj-${Math.floor(random() * 300)}`;
            const before = (await inventory.getItem(sku)).stock.available;
            const after = (await inventory.adjust({ adjustmentId: id, sku, delta, reason: "" })).stock.available;
            if (after - before === delta) {
              adjusted.set(sku, adjusted.get(sku)! + delta);
            }
            break;
          }
          case "sweep":
            await inventory.expireDue();
            break;
        }
      } catch (err) {
        expect(err).to.be.instanceOf(ConnectError);
      }
      for (const item of (await inventory.listItems(100, "")).items) {
        const { available, reserved, sold } = item.stock;
        expect(available + reserved + sold, item.sku).to.equal(seeded.get(item.sku)! + adjusted.get(item.sku)!);
      }
    }
    const rows = await fresh.query<{ sku: string; reserved: number; held: number }>(
      `SELECT i.sku, i.reserved, CAST(COALESCE(SUM(l.quantity), 0) AS INTEGER) AS held
         FROM items i
         LEFT JOIN reservation_lines l ON l.sku = i.sku
           AND l.order_id IN (SELECT order_id FROM reservations WHERE state = 'ACTIVE')
        GROUP BY i.sku, i.reserved`,
    );
    for (const row of rows) {
      expect(row.reserved, row.sku).to.equal(row.held);
    }
  });
});

/** A small seeded PRNG, so the mixed-operations test is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
