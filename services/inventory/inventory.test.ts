import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { Code, ConnectError, reasonMetadataOf, reasonOf } from "../../mesh/errors.js";
import { Inventory } from "./inventory.js";
import type { Item, ReservationLine } from "./model.js";
import { openSqliteInventoryStore, type SqliteInventoryStore } from "./sqlite-store.js";

const start = Date.parse("2030-01-01T00:00:00Z");
const fifteenMinutes = 15 * 60 * 1000;

describe("Inventory on SQLite", () => {
  let dir: string;
  let path: string;
  let store: SqliteInventoryStore;
  let nowMs: number;
  let inventory: Inventory;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "inventory-"));
    path = join(dir, "inventory.db");
    store = openSqliteInventoryStore(path);
    nowMs = start;
    inventory = new Inventory({ store, now: () => nowMs });
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every row of every table, read on a separate connection: what a failing call must leave untouched. */
  function snapshot(): Record<string, unknown[]> {
    const db = new Database(path, { readonly: true });
    try {
      const tables = db
        .prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all();
      // A WITHOUT ROWID table (the event log) has no rowid; it reads in primary-key order.
      const order = (sql: string) => (/WITHOUT ROWID/i.test(sql) ? "" : " ORDER BY rowid");
      return Object.fromEntries(tables.map(({ name, sql }) => [name, db.prepare(`SELECT * FROM "${name}"${order(sql)}`).all()]));
    } finally {
      db.close();
    }
  }

  /** Runs `call`, expects it to fail with `code` (and `reason`), and checks that it wrote nothing. */
  function expectFailure(call: () => unknown, code: Code, reason?: string): ConnectError {
    const before = snapshot();
    let caught: unknown;
    try {
      call();
    } catch (err) {
      caught = err;
    }
    expect(caught, "the call should fail").to.be.instanceOf(ConnectError);
    const err = caught as ConnectError;
    expect(Code[err.code]).to.equal(Code[code]);
    expect(reasonOf(err)).to.equal(reason);
    expect(snapshot()).to.deep.equal(before);
    return err;
  }

  function stockOf(sku: string): Item["stock"] {
    return inventory.getItem(sku).stock;
  }

  describe("catalogue", () => {
    it("is seeded with at least 8 priced items in stock", () => {
      const { items } = inventory.listItems(100, "");
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

    it("gets one item by SKU", () => {
      const mug = inventory.getItem("MUG-001");
      expect(mug).to.include({ sku: "MUG-001", name: "Mug", priceMinor: 1400, currencyCode: "USD" });
      expect(mug.stock).to.deep.equal({ available: 100, reserved: 0, sold: 0 });
    });

    it("refuses an unknown SKU with NotFound", () => {
      expectFailure(() => inventory.getItem("NOPE-404"), Code.NotFound);
    });

    it("pages through every item in SKU order, with no gaps or repeats", () => {
      const all = inventory.listItems(100, "").items.map((item) => item.sku);
      const seen: string[] = [];
      let token = "";
      do {
        const page = inventory.listItems(3, token);
        expect(page.items.length).to.be.at.most(3);
        seen.push(...page.items.map((item) => item.sku));
        token = page.nextPageToken;
      } while (token !== "");
      expect(seen).to.deep.equal(all);
      expect(seen).to.deep.equal([...seen].sort());
    });

    it("returns 20 items by default and no token on the last page", () => {
      const page = inventory.listItems(0, "");
      expect(page.items.length).to.equal(Math.min(20, inventory.listItems(100, "").items.length));
      expect(page.nextPageToken).to.equal("");
    });

    it("ends with an empty token when the last page is exactly full", () => {
      const count = inventory.listItems(100, "").items.length;
      expect(inventory.listItems(count, "").nextPageToken).to.equal("");
    });

    for (const token of ["!!!", "bXVnLTAwMQ", "TVVHLTAwMQ==", "TVVHLTAwMQ.", "_w"]) {
      it(`refuses the page token ${JSON.stringify(token)} with InvalidArgument`, () => {
        expectFailure(() => inventory.listItems(5, token), Code.InvalidArgument, "INVALID_PAGE_TOKEN");
      });
    }
  });

  describe("reserve", () => {
    const lines: ReservationLine[] = [
      { sku: "MUG-001", quantity: 2 },
      { sku: "TEE-001", quantity: 3 },
    ];

    it("holds every line and expires after the default TTL", () => {
      const reservation = inventory.reserve({ orderId: "order-1", lines });
      expect(reservation).to.deep.equal({ orderId: "order-1", lines, state: "ACTIVE", expiresAtMs: start + fifteenMinutes });
      expect(stockOf("MUG-001")).to.deep.equal({ available: 98, reserved: 2, sold: 0 });
      expect(stockOf("TEE-001")).to.deep.equal({ available: 47, reserved: 3, sold: 0 });
    });

    it("uses the TTL of the request when it names one", () => {
      const reservation = inventory.reserve({ orderId: "order-1", lines, ttlMs: 60_000 });
      expect(reservation.expiresAtMs).to.equal(start + 60_000);
    });

    it("uses the configured default TTL", () => {
      const custom = new Inventory({ store, now: () => nowMs, defaultReservationTtlMs: 1000 });
      expect(custom.reserve({ orderId: "order-1", lines }).expiresAtMs).to.equal(start + 1000);
    });

    it("refuses a nonsensical default TTL", () => {
      expect(() => new Inventory({ store, defaultReservationTtlMs: 0 })).to.throw(RangeError);
    });

    it("holds nothing when one line lacks stock", () => {
      const err = expectFailure(
        () => inventory.reserve({ orderId: "order-1", lines: [lines[0]!, { sku: "HOODIE-001", quantity: 26 }] }),
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
      );
      expect(reasonMetadataOf(err)).to.deep.equal({ sku: "HOODIE-001", available: "25", requested: "26" });
    });

    it("holds nothing when one SKU is unknown", () => {
      expectFailure(
        () => inventory.reserve({ orderId: "order-1", lines: [lines[0]!, { sku: "NOPE-404", quantity: 1 }] }),
        Code.NotFound,
      );
    });

    it("refuses a SKU that appears twice", () => {
      const err = expectFailure(
        () => inventory.reserve({ orderId: "order-1", lines: [lines[0]!, lines[1]!, { sku: "MUG-001", quantity: 1 }] }),
        Code.InvalidArgument,
        "DUPLICATE_SKU",
      );
      expect(reasonMetadataOf(err)).to.deep.equal({ sku: "MUG-001" });
    });

    it("returns the existing reservation for the same lines, holding stock once", () => {
      const first = inventory.reserve({ orderId: "order-1", lines });
      nowMs += 1000;
      const again = inventory.reserve({ orderId: "order-1", lines: [...lines].reverse(), ttlMs: 5000 });
      expect(again).to.deep.equal(first);
      expect(stockOf("MUG-001")).to.deep.equal({ available: 98, reserved: 2, sold: 0 });
    });

    it("returns the reservation unchanged once committed, released or expired", () => {
      inventory.reserve({ orderId: "committed", lines });
      inventory.commit("committed");
      inventory.reserve({ orderId: "released", lines });
      inventory.release("released");
      inventory.reserve({ orderId: "expired", lines, ttlMs: 1000 });
      nowMs += 1000;
      inventory.expireDue();
      const before = snapshot();
      expect(inventory.reserve({ orderId: "committed", lines }).state).to.equal("COMMITTED");
      expect(inventory.reserve({ orderId: "released", lines }).state).to.equal("RELEASED");
      expect(inventory.reserve({ orderId: "expired", lines }).state).to.equal("EXPIRED");
      expect(snapshot()).to.deep.equal(before);
    });

    it("refuses other lines under the same order id", () => {
      inventory.reserve({ orderId: "order-1", lines });
      for (const other of [
        [lines[0]!],
        [lines[0]!, { sku: "TEE-001", quantity: 4 }],
        [lines[0]!, lines[1]!, { sku: "CAP-001", quantity: 1 }],
      ]) {
        const err = expectFailure(
          () => inventory.reserve({ orderId: "order-1", lines: other }),
          Code.AlreadyExists,
          "IDEMPOTENCY_KEY_REUSED",
        );
        expect(reasonMetadataOf(err)).to.deep.equal({ order_id: "order-1" });
      }
    });

    it("can take the last unit of an item", () => {
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 25 }] });
      expect(stockOf("HOODIE-001")).to.deep.equal({ available: 0, reserved: 25, sold: 0 });
      expectFailure(
        () => inventory.reserve({ orderId: "order-2", lines: [{ sku: "HOODIE-001", quantity: 1 }] }),
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
      );
    });
  });

  describe("release", () => {
    const lines = [{ sku: "CAP-001", quantity: 5 }];

    it("returns an active reservation's stock, and is idempotent", () => {
      inventory.reserve({ orderId: "order-1", lines });
      expect(inventory.release("order-1").state).to.equal("RELEASED");
      expect(stockOf("CAP-001")).to.deep.equal({ available: 35, reserved: 0, sold: 0 });
      const before = snapshot();
      expect(inventory.release("order-1").state).to.equal("RELEASED");
      expect(snapshot()).to.deep.equal(before);
    });

    it("returns an expired reservation unchanged", () => {
      inventory.reserve({ orderId: "order-1", lines, ttlMs: 1000 });
      nowMs += 1000;
      expect(inventory.release("order-1").state).to.equal("EXPIRED");
      expect(stockOf("CAP-001")).to.deep.equal({ available: 35, reserved: 0, sold: 0 });
    });

    it("refuses a committed reservation", () => {
      inventory.reserve({ orderId: "order-1", lines });
      inventory.commit("order-1");
      expectFailure(() => inventory.release("order-1"), Code.FailedPrecondition, "RESERVATION_COMMITTED");
    });

    it("refuses an unknown order with NotFound", () => {
      expectFailure(() => inventory.release("order-404"), Code.NotFound);
    });
  });

  describe("commit", () => {
    const lines = [{ sku: "CAP-001", quantity: 5 }];

    it("turns reserved stock into sold stock, and is idempotent", () => {
      inventory.reserve({ orderId: "order-1", lines });
      expect(inventory.commit("order-1").state).to.equal("COMMITTED");
      expect(stockOf("CAP-001")).to.deep.equal({ available: 30, reserved: 0, sold: 5 });
      const before = snapshot();
      expect(inventory.commit("order-1").state).to.equal("COMMITTED");
      expect(snapshot()).to.deep.equal(before);
    });

    it("commits a reservation until the last millisecond of its TTL", () => {
      inventory.reserve({ orderId: "order-1", lines, ttlMs: 1000 });
      nowMs += 999;
      expect(inventory.commit("order-1").state).to.equal("COMMITTED");
    });

    it("refuses a released reservation", () => {
      inventory.reserve({ orderId: "order-1", lines });
      inventory.release("order-1");
      expectFailure(() => inventory.commit("order-1"), Code.FailedPrecondition, "RESERVATION_RELEASED");
    });

    it("refuses an expired reservation", () => {
      inventory.reserve({ orderId: "order-1", lines, ttlMs: 1000 });
      nowMs += 1000;
      inventory.expireDue();
      expectFailure(() => inventory.commit("order-1"), Code.FailedPrecondition, "RESERVATION_EXPIRED");
    });

    it("refuses an unknown order with NotFound", () => {
      expectFailure(() => inventory.commit("order-404"), Code.NotFound);
    });
  });

  describe("expiry", () => {
    it("returns the stock of a reservation past its TTL on the next read", () => {
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 10 }], ttlMs: 60_000 });
      nowMs += 59_999;
      expect(stockOf("MUG-001")).to.deep.equal({ available: 90, reserved: 10, sold: 0 });
      nowMs += 1;
      expect(stockOf("MUG-001")).to.deep.equal({ available: 100, reserved: 0, sold: 0 });
      expect(inventory.listItems(100, "").items.find((item) => item.sku === "MUG-001")?.stock.reserved).to.equal(0);
    });

    it("frees expired stock for a new reservation in the same call", () => {
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 25 }], ttlMs: 1000 });
      nowMs += 1000;
      const reservation = inventory.reserve({ orderId: "order-2", lines: [{ sku: "HOODIE-001", quantity: 25 }] });
      expect(reservation.state).to.equal("ACTIVE");
      expect(inventory.release("order-1").state).to.equal("EXPIRED");
      expect(stockOf("HOODIE-001")).to.deep.equal({ available: 0, reserved: 25, sold: 0 });
    });

    it("sweeps every due reservation and counts them", () => {
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 1 }], ttlMs: 1000 });
      inventory.reserve({ orderId: "order-2", lines: [{ sku: "MUG-001", quantity: 2 }], ttlMs: 2000 });
      inventory.reserve({ orderId: "order-3", lines: [{ sku: "MUG-001", quantity: 4 }], ttlMs: 3000 });
      inventory.commit("order-1");
      nowMs += 2000;
      expect(inventory.expireDue()).to.equal(1);
      expect(inventory.expireDue()).to.equal(0);
      expect(stockOf("MUG-001")).to.deep.equal({ available: 95, reserved: 4, sold: 1 });
    });

    it("keeps an expired reservation's stock when a failing call rolls back", () => {
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 1 }], ttlMs: 1000 });
      nowMs += 1000;
      expectFailure(() => inventory.commit("order-404"), Code.NotFound);
      expect(inventory.expireDue()).to.equal(1);
    });
  });

  describe("adjust", () => {
    it("adds and removes available stock", () => {
      const added = inventory.adjust({ adjustmentId: "adj-1", sku: "MUG-001", delta: 10, reason: "delivery" });
      expect(added.stock).to.deep.equal({ available: 110, reserved: 0, sold: 0 });
      expect(added).to.include({ sku: "MUG-001", name: "Mug", priceMinor: 1400 });
      const removed = inventory.adjust({ adjustmentId: "adj-2", sku: "MUG-001", delta: -110, reason: "" });
      expect(removed.stock).to.deep.equal({ available: 0, reserved: 0, sold: 0 });
    });

    it("returns the first result for the same request and changes nothing", () => {
      const request = { adjustmentId: "adj-1", sku: "MUG-001", delta: 10, reason: "delivery" };
      const first = inventory.adjust(request);
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 3 }] });
      const before = snapshot();
      expect(inventory.adjust(request)).to.deep.equal(first);
      expect(snapshot()).to.deep.equal(before);
      expect(stockOf("MUG-001")).to.deep.equal({ available: 107, reserved: 3, sold: 0 });
    });

    it("refuses a different request under the same id", () => {
      inventory.adjust({ adjustmentId: "adj-1", sku: "MUG-001", delta: 10, reason: "delivery" });
      for (const other of [
        { sku: "TEE-001", delta: 10, reason: "delivery" },
        { sku: "MUG-001", delta: 11, reason: "delivery" },
        { sku: "MUG-001", delta: 10, reason: "recount" },
      ]) {
        const err = expectFailure(
          () => inventory.adjust({ adjustmentId: "adj-1", ...other }),
          Code.AlreadyExists,
          "IDEMPOTENCY_KEY_REUSED",
        );
        expect(reasonMetadataOf(err)).to.deep.equal({ adjustment_id: "adj-1" });
      }
    });

    it("refuses to take available stock below zero", () => {
      inventory.reserve({ orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 20 }] });
      const err = expectFailure(
        () => inventory.adjust({ adjustmentId: "adj-1", sku: "HOODIE-001", delta: -6, reason: "damaged" }),
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
      );
      expect(reasonMetadataOf(err)).to.deep.equal({ sku: "HOODIE-001", available: "5", requested: "6" });
    });

    it("refuses stock beyond what the contract's int32 can carry", () => {
      inventory.adjust({ adjustmentId: "adj-1", sku: "MUG-001", delta: 2_147_483_647 - 100, reason: "" });
      expectFailure(
        () => inventory.adjust({ adjustmentId: "adj-2", sku: "MUG-001", delta: 1, reason: "" }),
        Code.OutOfRange,
        "STOCK_LIMIT_EXCEEDED",
      );
    });

    it("refuses an unknown SKU with NotFound", () => {
      expectFailure(() => inventory.adjust({ adjustmentId: "adj-1", sku: "NOPE-404", delta: 1, reason: "" }), Code.NotFound);
    });
  });

  it("keeps available + reserved + sold == seeded + adjustments through any mix of operations", () => {
    const seeded = new Map(inventory.listItems(100, "").items.map((item) => [item.sku, item.stock.available]));
    const skus = [...seeded.keys()];
    const adjusted = new Map(skus.map((sku) => [sku, 0]));
    const random = mulberry32(42);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const orderIds: string[] = [];
    // Mostly one of the last few orders, so commits and releases find active reservations.
    const someOrder = () => (orderIds.length > 0 && random() < 0.9 ? pick(orderIds.slice(-10)) : "order-404");

    for (let step = 0; step < 2000; step++) {
      nowMs += Math.floor(random() * 5000);
      try {
        switch (pick(["reserve", "release", "commit", "adjust", "sweep"] as const)) {
          case "reserve": {
            const chosen = [...new Set([pick(skus), pick(skus), pick(skus)])];
            const lines = chosen.map((sku) => ({ sku, quantity: 1 + Math.floor(random() * 15) }));
            const orderId = random() < 0.8 ? `order-${step}` : someOrder();
            inventory.reserve({ orderId, lines, ttlMs: 1000 + Math.floor(random() * 120_000) });
            orderIds.push(orderId);
            break;
          }
          case "release":
            inventory.release(someOrder());
            break;
          case "commit":
            inventory.commit(someOrder());
            break;
          case "adjust": {
            const sku = pick(skus);
            const delta = Math.floor(random() * 41) - 20 || 1;
            const id = `adj-${Math.floor(random() * 300)}`;
            const before = inventory.getItem(sku).stock.available;
            const after = inventory.adjust({ adjustmentId: id, sku, delta, reason: "" }).stock.available;
            if (after - before === delta) {
              adjusted.set(sku, adjusted.get(sku)! + delta);
            }
            break;
          }
          case "sweep":
            inventory.expireDue();
            break;
        }
      } catch (err) {
        expect(err).to.be.instanceOf(ConnectError);
      }
      for (const item of inventory.listItems(100, "").items) {
        const { available, reserved, sold } = item.stock;
        expect(available + reserved + sold, item.sku).to.equal(seeded.get(item.sku)! + adjusted.get(item.sku)!);
      }
    }
    const held = new Database(path, { readonly: true });
    try {
      const rows = held
        .prepare<[], { sku: string; reserved: number; held: number }>(
          `SELECT i.sku, i.reserved, COALESCE(SUM(l.quantity), 0) AS held
             FROM items i
             LEFT JOIN reservation_lines l ON l.sku = i.sku
               AND l.order_id IN (SELECT order_id FROM reservations WHERE state = 'ACTIVE')
            GROUP BY i.sku`,
        )
        .all();
      for (const row of rows) {
        expect(row.reserved, row.sku).to.equal(row.held);
      }
    } finally {
      held.close();
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
