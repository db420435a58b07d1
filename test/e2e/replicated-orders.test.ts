import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import pg from "pg";
import { DevTokens } from "../support/gateway-http.js";
import { sharedPostgres } from "../support/postgres-server.js";
import { startService, type ServiceProcess } from "../support/service-process.js";

interface OrderJson {
  orderId: string;
  state: string;
  cancelReason?: string;
}

/** A look into one service's database, as an operator would. */
async function query<Row>(url: string, sql: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Row[];
  } finally {
    await client.end();
  }
}

/**
 * Two orders replicas and two inventory replicas on one PostgreSQL server
 * (each service its own database), payments and notifications beside them,
 * all behind the gateway. 200 orders are placed through the gateway while
 * both orders replicas serve and resume sagas; one orders replica is
 * SIGKILLed in the middle. The outcome is read from the databases.
 */
describe("replicated orders on PostgreSQL, one replica SIGKILLed mid-run", function () {
  this.timeout(300_000);
  const processes: ServiceProcess[] = [];
  let dataDir: string;
  const urls: Record<string, string> = {};

  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("ends every order as its card says, drives none twice, conserves stock and notifies each event once", async () => {
    const server = await sharedPostgres();
    for (const name of ["inventory", "payments", "orders", "notifications"]) {
      urls[name] = await server.createDatabase(`replicated_${name}`);
    }
    dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-replicated-"));
    const start = async (name: string, env: Record<string, string>): Promise<ServiceProcess> => {
      const p = await startService(name, { DATA_DIR: dataDir, ...env });
      processes.push(p);
      return p;
    };
    // Replicas start together: each applies the migrations under the advisory lock, once.
    const [inventoryA, inventoryB, payments] = await Promise.all([
      start("inventory", { DATABASE_URL: urls["inventory"]! }),
      start("inventory", { DATABASE_URL: urls["inventory"]! }),
      start("payments", { DATABASE_URL: urls["payments"]! }),
    ]);
    const ordersEnv = {
      DATABASE_URL: urls["orders"]!,
      INVENTORY_URL: `${inventoryA!.url},${inventoryB!.url}`,
      PAYMENTS_URL: payments!.url,
      SAGA_RESUME_MS: "300",
      SAGA_LEASE_MS: "1500",
    };
    const [ordersA, ordersB] = await Promise.all([start("orders", ordersEnv), start("orders", ordersEnv)]);
    const ordersUrls = `${ordersA!.url},${ordersB!.url}`;
    await start("notifications", { DATABASE_URL: urls["notifications"]!, ORDERS_URL: ordersUrls });
    const gateway = await start("gateway", {
      INVENTORY_URL: `${inventoryA!.url},${inventoryB!.url}`,
      ORDERS_URL: ordersUrls,
      RATE_LIMIT_PER_SECOND: "100000",
      RATE_LIMIT_BURST: "100000",
    });
    const seeded = new Map(
      (await query<{ sku: string; total: number }>(urls["inventory"]!, "SELECT sku, available + reserved + sold AS total FROM items")).map(
        (r) => [r.sku, r.total],
      ),
    );

    const tokens = new DevTokens(dataDir);
    const skus = ["MUG-001", "STICKER-001", "NOTEBOOK-001", "TEE-001"];
    const cards = ["tok_visa", "tok_visa", "tok_declined", "tok_insufficient_funds"];
    const planned = Array.from({ length: 200 }, (_, i) => ({
      requestId: `rep-${i}-${randomUUID().slice(0, 8)}`,
      customer: `customer-${i % 10}`,
      sku: skus[i % skus.length]!,
      card: cards[i % cards.length]!,
    }));

    /**
     * PlaceOrder through the gateway, as a client would: a failure (the
     * replica that served it died) is retried with the same request id,
     * which makes the retry return the one order, never a second.
     */
    const place = async (o: (typeof planned)[number]): Promise<OrderJson> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${gateway.url}/v1/orders`, {
            method: "POST",
            headers: { authorization: `Bearer ${await tokens.sign(o.customer)}`, "content-type": "application/json" },
            body: JSON.stringify({ requestId: o.requestId, lines: [{ sku: o.sku, quantity: 1 }], cardToken: o.card }),
            signal: AbortSignal.timeout(30_000),
          });
          const body = (await res.json()) as { order?: OrderJson };
          if (res.status === 200 && body.order !== undefined) {
            return body.order;
          }
          expect(attempt, `${o.requestId}: ${res.status} ${JSON.stringify(body)}`).to.be.below(20);
        } catch (err) {
          expect(attempt, `${o.requestId}: ${String(err)}`).to.be.below(20);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };

    // 8 clients at a time; orders A is killed once 80 orders were answered.
    let next = 0;
    let answered = 0;
    let killed: Promise<void> | undefined;
    const client = async (): Promise<void> => {
      while (next < planned.length) {
        const o = planned[next++]!;
        await place(o);
        answered++;
        if (answered === 80) {
          killed = ordersA!.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    await killed;

    // Every order ends (the dead replica's sagas are taken over once their leases expire).
    const deadline = Date.now() + 90_000;
    let rows: { order_id: string; request_id: string; state: string; payment_id: string | null }[] = [];
    for (;;) {
      rows = await query(urls["orders"]!, "SELECT order_id, request_id, state, payment_id FROM orders");
      if (rows.length === planned.length && rows.every((r) => r.state !== "PENDING")) {
        break;
      }
      expect(Date.now(), `orders still pending: ${rows.filter((r) => r.state === "PENDING").length} of ${rows.length}`).to.be.below(deadline);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // As the card determines: visa confirmed, a decline cancelled.
    const byRequest = new Map(rows.map((r) => [r.request_id, r]));
    for (const o of planned) {
      const row = byRequest.get(o.requestId);
      expect(row?.state, `${o.requestId} (${o.card})`).to.equal(o.card === "tok_visa" ? "CONFIRMED" : "CANCELLED");
    }

    // Driven once: one authorization per confirmed order (none for a decline), captured once.
    const authorizations = await query<{ order_id: string; n: number; captured: number }>(
      urls["payments"]!,
      "SELECT order_id, count(*)::int AS n, count(*) FILTER (WHERE state = 'CAPTURED')::int AS captured FROM payments GROUP BY order_id",
    );
    const confirmed = rows.filter((r) => r.state === "CONFIRMED");
    expect(authorizations.filter((a) => a.n !== 1), "orders with more than one authorization").to.deep.equal([]);
    expect(authorizations.filter((a) => a.captured > 1)).to.deep.equal([]);
    expect(new Set(authorizations.filter((a) => a.captured === 1).map((a) => a.order_id))).to.deep.equal(
      new Set(confirmed.map((r) => r.order_id)),
    );

    // Stock: available + reserved + sold = seeded for every SKU; nothing left reserved; sold = confirmed units.
    const items = await query<{ sku: string; available: number; reserved: number; sold: number }>(
      urls["inventory"]!,
      "SELECT sku, available, reserved, sold FROM items",
    );
    for (const item of items) {
      expect(item.available + item.reserved + item.sold, item.sku).to.equal(seeded.get(item.sku));
      expect(item.reserved, `${item.sku} reserved`).to.equal(0);
      const sold = planned.filter((o) => o.sku === item.sku && o.card === "tok_visa").length;
      expect(item.sold, `${item.sku} sold`).to.equal(sold);
    }

    // Every order event once at notifications: placed + confirmed or cancelled for each order.
    const eventsDeadline = Date.now() + 60_000;
    for (;;) {
      const n = (await query<{ n: number }>(urls["notifications"]!, "SELECT count(*)::int AS n FROM notifications"))[0]!.n;
      if (n >= 2 * planned.length) {
        break;
      }
      expect(Date.now(), `notifications: ${n} of ${2 * planned.length}`).to.be.below(eventsDeadline);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const notified = await query<{ order_id: string; event_type: string; n: number }>(
      urls["notifications"]!,
      "SELECT order_id, event_type, count(*)::int AS n FROM notifications GROUP BY order_id, event_type",
    );
    expect(notified.filter((x) => x.n !== 1)).to.deep.equal([]);
    expect(notified).to.have.length(2 * planned.length);
    const outbox = await query<{ n: number }>(urls["orders"]!, "SELECT count(*)::int AS n FROM outbox");
    expect(outbox[0]!.n).to.equal(2 * planned.length);
  });
});
