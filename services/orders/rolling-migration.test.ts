import { expect } from "chai";
import { openPostgres, type PostgresDatabase } from "../../mesh/index.js";
import { freshStore, type FreshStore } from "../../test/support/store-engines.js";
import { postgresMigrations } from "./migrations.js";
import { openOrderStore } from "./open-store.js";
import type { Order } from "./order.js";
import type { OrderStore } from "./order-store.js";

function order(orderId: string, requestId: string): Order {
  const at = new Date(Date.UTC(2025, 0, 1));
  return {
    orderId,
    customerId: "alice",
    requestId,
    requestFingerprint: "fp",
    lines: [{ sku: "MUG-001", quantity: 1, unitPriceMinor: 1200 }],
    totalMinor: 1200,
    currencyCode: "USD",
    state: "PENDING",
    cancelDetail: "",
    cancelRequested: false,
    sagaStep: "RESERVE",
    undo: [],
    cardToken: "tok_visa",
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * A replica of the build before migration 4 (saga leases): its schema is
 * steps 1-3, and these are its statements, as that build wrote them. It never
 * names the lease columns.
 */
class PreviousBuildReplica {
  private constructor(private readonly db: PostgresDatabase) {}

  static async start(url: string): Promise<PreviousBuildReplica> {
    return new PreviousBuildReplica(await openPostgres(url, { name: "orders-previous", migrations: postgresMigrations.slice(0, 3) }));
  }

  async insert(orderId: string, requestId: string): Promise<boolean> {
    const result = await this.db.pool.query(
      `INSERT INTO orders (order_id, customer_id, request_id, request_fingerprint, lines, total_minor, currency_code,
         state, cancel_reason, cancel_detail, payment_id, cancel_requested, saga_step, undo, card_token, created_at, updated_at)
       VALUES ($1, 'alice', $2, 'fp', '[]', 1200, 'USD', 'PENDING', NULL, '', NULL, 0, 'RESERVE', '[]', 'tok_visa', 1, 1)
       ON CONFLICT (customer_id, request_id) DO NOTHING`,
      [orderId, requestId],
    );
    return result.rowCount === 1;
  }

  async moveStep(orderId: string, from: string, to: string): Promise<boolean> {
    const result = await this.db.pool.query(
      "UPDATE orders SET saga_step = $1, updated_at = 2 WHERE order_id = $2 AND saga_step = $3",
      [to, orderId, from],
    );
    return result.rowCount === 1;
  }

  async stepOf(orderId: string): Promise<string | undefined> {
    const { rows } = await this.db.pool.query<{ saga_step: string }>("SELECT * FROM orders WHERE order_id = $1", [orderId]);
    return rows[0]?.saga_step;
  }

  async pending(): Promise<string[]> {
    const { rows } = await this.db.pool.query<{ order_id: string }>(
      "SELECT order_id FROM orders WHERE state = 'PENDING' ORDER BY created_at, order_id",
    );
    return rows.map((r) => r.order_id);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

describe("orders migrations on PostgreSQL, with replicas", () => {
  let fresh: FreshStore;
  const opened: { close(): Promise<void> }[] = [];
  beforeEach(async () => {
    fresh = await freshStore("postgres", "orders");
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await fresh.dispose();
  });

  it("applies each step once when four replicas start at the same moment", async () => {
    const stores = await Promise.all([1, 2, 3, 4].map(() => openOrderStore(fresh.location)));
    opened.push(...stores);
    expect(await fresh.query("SELECT version FROM schema_migrations ORDER BY version")).to.deep.equal(
      postgresMigrations.map((_, i) => ({ version: i + 1 })),
    );
    // Every replica works on the one schema.
    await Promise.all(stores.map((store, i) => store.insert(order(`o${i}`, `r${i}`))));
    expect((await fresh.query<{ n: number }>("SELECT count(*) AS n FROM orders"))[0]!.n).to.equal(4);
  });

  it("keeps a replica of the previous build working after the new build's expand migration", async () => {
    const previous = await PreviousBuildReplica.start(fresh.location.engine === "postgres" ? fresh.location.url : "");
    opened.push(previous);
    expect(await fresh.schemaVersion()).to.equal(3);
    expect(await previous.insert("old-1", "r-old-1")).to.equal(true);

    // The new build starts beside it and expands the table (step 4: lease columns).
    const current: OrderStore = await openOrderStore(fresh.location);
    opened.push(current);
    expect(await fresh.schemaVersion()).to.equal(4);

    // The previous build goes on: inserts, its saga's compare-and-set, reads, its resume query.
    expect(await previous.insert("old-2", "r-old-2")).to.equal(true);
    expect(await previous.insert("old-dup", "r-old-2")).to.equal(false);
    expect(await previous.moveStep("old-1", "RESERVE", "AUTHORIZE")).to.equal(true);
    expect(await previous.stepOf("old-1")).to.equal("AUTHORIZE");

    // The new build reads the previous build's orders, leases and drives them; the previous build reads the new build's.
    expect((await current.get("old-2"))?.sagaStep).to.equal("RESERVE");
    expect(await current.takeLease("old-2", { owner: "new", untilMs: Date.now() + 10_000 }, Date.now())).to.equal(true);
    expect(await current.update({ ...(await current.get("old-2"))!, sagaStep: "AUTHORIZE" }, "RESERVE", [], "new")).to.include({ sagaStep: "AUTHORIZE" });
    expect(await current.insert(order("new-1", "r-new-1"), ["ORDER_PLACED"], { owner: "new", untilMs: Date.now() + 10_000 })).to.equal(true);
    expect(await previous.stepOf("new-1")).to.equal("RESERVE");
    expect(await previous.pending()).to.include.members(["old-1", "old-2", "new-1"]);
  });
});
