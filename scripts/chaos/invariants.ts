import Database from "better-sqlite3";
import path from "node:path";

/**
 * What a verdict is judged from: the services' databases ("data": exact,
 * whatever the machine's speed), their counters ("counters"), the
 * supervisor's record of its processes ("supervisor"), or the latencies the
 * load measured ("latency": on a machine busy with other work these say as
 * much about the machine as about the mesh).
 */
export type VerdictBasis = "data" | "counters" | "supervisor" | "latency";

/** One check of a chaos run. */
export interface Verdict {
  readonly name: string;
  readonly basis: VerdictBasis;
  readonly held: boolean;
  /** The figures it was judged on, or the first cases that broke it. */
  readonly detail: string;
}

/** Every SKU's total units (available + reserved + sold) and the adjustments so far, before the run. */
export interface StockBaseline {
  readonly totals: ReadonlyMap<string, number>;
  readonly sold: ReadonlyMap<string, number>;
  readonly adjustments: number;
}

function open(dataDir: string, file: string): Database.Database {
  return new Database(path.join(dataDir, file), { readonly: true, fileMustExist: true });
}

function read<T>(dataDir: string, file: string, fn: (db: Database.Database) => T): T {
  const db = open(dataDir, file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Reads inventory's stock before the run, to check conservation against at the end. */
export function stockBaseline(dataDir: string): StockBaseline {
  return read(dataDir, "inventory.db", (db) => {
    const rows = db.prepare("SELECT sku, available + reserved + sold AS total, sold FROM items").all() as { sku: string; total: number; sold: number }[];
    const { n } = db.prepare("SELECT count(*) AS n FROM adjustments").get() as { n: number };
    return { totals: new Map(rows.map((r) => [r.sku, r.total])), sold: new Map(rows.map((r) => [r.sku, r.sold])), adjustments: n };
  });
}

/** Orders not yet CONFIRMED or CANCELLED. */
export function pendingOrders(dataDir: string): number {
  return read(dataDir, "orders.db", (db) => (db.prepare("SELECT count(*) AS n FROM orders WHERE state = 'PENDING'").get() as { n: number }).n);
}

/** Order events in orders' outbox without exactly one notification, and the number of events. */
export function notificationGaps(dataDir: string): { events: number; missing: string[]; duplicated: string[] } {
  const events = read(dataDir, "orders.db", (db) => (db.prepare("SELECT id FROM outbox").all() as { id: string }[]).map((r) => r.id));
  const counts = read(dataDir, "notifications.db", (db) => {
    const rows = db.prepare("SELECT event_id, count(*) AS n FROM notifications GROUP BY event_id").all() as { event_id: string; n: number }[];
    return new Map(rows.map((r) => [r.event_id, r.n]));
  });
  return {
    events: events.length,
    missing: events.filter((id) => (counts.get(id) ?? 0) === 0),
    duplicated: events.filter((id) => (counts.get(id) ?? 0) > 1),
  };
}

/**
 * The domain's invariants after a run, from the services' own databases:
 * - every order ended CONFIRMED or CANCELLED (`boundS`: how long after the
 *   load they were given);
 * - at most one authorization and one capture per order; a confirmed order
 *   was charged exactly once, a cancelled one not at all;
 * - stock conserved for every SKU: available + reserved + sold = what it was
 *   plus the adjustments made since, nothing left reserved, and the units
 *   sold since the baseline = the units of the orders confirmed;
 * - every order event led to exactly one notification.
 */
export function domainVerdicts(dataDir: string, baseline: StockBaseline, boundS: number): Verdict[] {
  const orders = read(dataDir, "orders.db", (db) => db.prepare("SELECT order_id, state, lines FROM orders").all() as { order_id: string; state: string; lines: string }[]);
  const payments = read(dataDir, "payments.db", (db) => db.prepare("SELECT order_id, state FROM payments").all() as { order_id: string; state: string }[]);
  const stock = read(dataDir, "inventory.db", (db) => ({
    items: db.prepare("SELECT sku, available, reserved, sold FROM items").all() as { sku: string; available: number; reserved: number; sold: number }[],
    adjusted: new Map(
      (db.prepare("SELECT sku, sum(delta) AS delta FROM (SELECT * FROM adjustments ORDER BY rowid LIMIT -1 OFFSET ?) GROUP BY sku").all(baseline.adjustments) as { sku: string; delta: number }[]).map(
        (r) => [r.sku, r.delta],
      ),
    ),
  }));

  const states = new Map<string, number>();
  for (const o of orders) {
    states.set(o.state, (states.get(o.state) ?? 0) + 1);
  }
  const pending = orders.filter((o) => o.state === "PENDING");
  const verdicts: Verdict[] = [
    {
      name: `every order ends CONFIRMED or CANCELLED within ${boundS} s`,
      basis: "data",
      held: pending.length === 0,
      detail: `${orders.length} orders: ${[...states].map(([s, n]) => `${n} ${s}`).join(", ") || "none"}${pending.length > 0 ? `; still pending: ${pending.slice(0, 3).map((o) => o.order_id).join(", ")}` : ""}`,
    },
  ];

  const byOrder = new Map<string, { authorizations: number; captures: number }>();
  for (const p of payments) {
    const entry = byOrder.get(p.order_id) ?? { authorizations: 0, captures: 0 };
    entry.authorizations++;
    if (p.state === "CAPTURED") {
      entry.captures++;
    }
    byOrder.set(p.order_id, entry);
  }
  const doubled = [...byOrder].filter(([, e]) => e.authorizations > 1 || e.captures > 1).map(([id]) => id);
  const confirmedUncharged = orders.filter((o) => o.state === "CONFIRMED" && (byOrder.get(o.order_id)?.captures ?? 0) !== 1).map((o) => o.order_id);
  const cancelledCharged = orders.filter((o) => o.state === "CANCELLED" && (byOrder.get(o.order_id)?.captures ?? 0) > 0).map((o) => o.order_id);
  verdicts.push({
    name: "at most one authorization and one capture per order; confirmed = charged once, cancelled = not charged",
    basis: "data",
    held: doubled.length === 0 && confirmedUncharged.length === 0 && cancelledCharged.length === 0,
    detail:
      `${payments.length} payments for ${byOrder.size} orders` +
      (doubled.length > 0 ? `; charged twice: ${doubled.slice(0, 3).join(", ")}` : "") +
      (confirmedUncharged.length > 0 ? `; confirmed without one capture: ${confirmedUncharged.slice(0, 3).join(", ")}` : "") +
      (cancelledCharged.length > 0 ? `; cancelled but captured: ${cancelledCharged.slice(0, 3).join(", ")}` : ""),
  });

  const confirmedUnits = new Map<string, number>();
  for (const o of orders.filter((x) => x.state === "CONFIRMED")) {
    for (const line of JSON.parse(o.lines) as { sku: string; quantity: number }[]) {
      confirmedUnits.set(line.sku, (confirmedUnits.get(line.sku) ?? 0) + line.quantity);
    }
  }
  const broken: string[] = [];
  for (const item of stock.items) {
    const expected = (baseline.totals.get(item.sku) ?? 0) + (stock.adjusted.get(item.sku) ?? 0);
    const total = item.available + item.reserved + item.sold;
    const soldSince = item.sold - (baseline.sold.get(item.sku) ?? 0);
    if (total !== expected) {
      broken.push(`${item.sku}: available ${item.available} + reserved ${item.reserved} + sold ${item.sold} = ${total}, seeded+adjusted ${expected}`);
    } else if (item.reserved !== 0) {
      broken.push(`${item.sku}: ${item.reserved} still reserved`);
    } else if (soldSince !== (confirmedUnits.get(item.sku) ?? 0)) {
      broken.push(`${item.sku}: sold ${soldSince} since the start, confirmed orders hold ${confirmedUnits.get(item.sku) ?? 0}`);
    }
  }
  verdicts.push({
    name: "stock conserved for every SKU (available + reserved + sold = seeded + adjusted; sold = confirmed units)",
    basis: "data",
    held: broken.length === 0,
    detail: broken.length === 0 ? `${stock.items.length} SKUs balance` : broken.slice(0, 3).join("; "),
  });

  const gaps = notificationGaps(dataDir);
  verdicts.push({
    name: "every order event notified exactly once",
    basis: "data",
    held: gaps.missing.length === 0 && gaps.duplicated.length === 0,
    detail:
      `${gaps.events} order events` +
      (gaps.missing.length > 0 ? `; ${gaps.missing.length} without a notification (e.g. ${gaps.missing[0]})` : "") +
      (gaps.duplicated.length > 0 ? `; ${gaps.duplicated.length} notified twice` : ""),
  });
  return verdicts;
}
