import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory } from "../client/client-factory.js";
import { createLogger } from "../logger.js";
import { ServingStatus } from "../server/health-service.js";
import { registration, serve, type MeshServer } from "../server/serve.js";
import { openDatabase, type Database } from "../sqlite/open-database.js";
import { breakersCheck } from "./breakers-check.js";
import type { ReadinessCheck, ReadinessReport } from "./readiness.js";
import { storeCheck } from "./store-check.js";
import { eventually } from "../../test/support/eventually.js";

const logger = createLogger("health-test", "silent");

/** An inventory whose GetItem fails Unavailable for SKUs starting DOWN-, and ListItems always answers. */
function startServer(readiness: readonly ReadinessCheck[], shutdownDelayMs = 0): Promise<MeshServer> {
  return serve({
    port: 0,
    logger,
    readiness,
    shutdownDelayMs,
    services: [
      registration(InventoryService, {
        getItem(req) {
          if (req.sku.startsWith("DOWN-")) {
            throw new ConnectError("down for the test", Code.Unavailable);
          }
          return { item: create(ItemSchema, { sku: req.sku, name: "Test item", available: 1 }) };
        },
        listItems: () => ({ items: [] }),
        reserveStock: () => ({}),
        releaseReservation: () => ({}),
        commitReservation: () => ({}),
        adjustStock: () => ({}),
      }),
    ],
  });
}

async function readyz(server: MeshServer): Promise<{ status: number; body: ReadinessReport }> {
  const res = await fetch(`${server.url}/readyz`);
  expect(res.headers.get("content-type")).to.equal("application/json");
  return { status: res.status, body: (await res.json()) as ReadinessReport };
}

describe("/healthz and /readyz on serve()", () => {
  let db: Database.Database;
  let server: MeshServer;
  beforeEach(async () => {
    db = openDatabase(":memory:", { name: "health-test", migrations: [] });
    server = await startServer([storeCheck({ ping: () => void db.prepare("SELECT 1").get() })]);
  });
  afterEach(async () => {
    await server.shutdown();
    if (db.open) {
      db.close();
    }
  });

  it("answers ready with every check while the store is open", async () => {
    const { status, body } = await readyz(server);
    expect(status).to.equal(200);
    expect(body).to.deep.equal({ status: "ready", checks: { serving: { ok: true }, store: { ok: true } } });
  });

  it("answers 503 naming the store once it is closed, and stays live", async () => {
    db.close();
    const { status, body } = await readyz(server);
    expect(status).to.equal(503);
    expect(body.status).to.equal("not_ready");
    expect(body.failed).to.deep.equal(["store"]);
    expect(body.checks.store).to.deep.include({ ok: false });
    expect(body.checks.store?.detail).to.contain("not open");
    expect(body.checks.serving).to.deep.equal({ ok: true });

    const live = await fetch(`${server.url}/healthz`);
    expect(live.status).to.equal(200);
    expect(await live.json()).to.deep.equal({ status: "SERVING" });
  });

  it("answers HEAD without a body, refuses other methods, and leaves RPCs alone", async () => {
    const head = await fetch(`${server.url}/readyz`, { method: "HEAD" });
    expect(head.status).to.equal(200);
    expect(await head.text()).to.equal("");
    const post = await fetch(`${server.url}/healthz`, { method: "POST" });
    expect(post.status).to.equal(405);
    expect(post.headers.get("allow")).to.equal("GET, HEAD");
    const clients = new ClientFactory();
    try {
      const { item } = await clients.client(InventoryService, server.url).getItem({ sku: "MUG-001" });
      expect(item?.sku).to.equal("MUG-001");
    } finally {
      clients.close();
    }
  });
});

describe("/readyz during shutdown", () => {
  it("answers 503 naming serving while shutdown waits for load balancers, gRPC health NOT_SERVING", async () => {
    // The delay keeps the port open for the probe to reach it.
    const server = await startServer([], 2_000);
    const stopping = server.shutdown();
    const { status, body } = await readyz(server);
    expect(status).to.equal(503);
    expect(body.failed).to.deep.equal(["serving"]);
    expect(server.health.get("")).to.equal(ServingStatus.NOT_SERVING);
    await stopping;
  });
});

describe("breakersCheck over a ClientFactory's breakers", () => {
  let server: MeshServer;
  let clients: ClientFactory;
  beforeEach(async () => {
    server = await startServer([]);
    clients = new ClientFactory();
  });
  afterEach(async () => {
    clients.close();
    await server.shutdown();
  });

  const target = (rollingCountTimeoutMs: number) => ({
    name: "inventory",
    endpoints: server.url,
    retry: false as const,
    breaker: { volumeThreshold: 3, resetTimeoutMs: 60_000, rollingCountTimeoutMs },
  });

  it("is ready before any call, and while one method's breaker is open and another's works", async () => {
    const check = breakersCheck(clients, "inventory");
    expect(check.run()).to.deep.equal({ ok: true });
    const client = clients.client(InventoryService, target(60_000));
    await client.listItems({});
    for (let i = 0; i < 5; i++) {
      await client.getItem({ sku: `DOWN-${i}` }).catch(() => undefined);
    }
    const states = clients.breakerStates("inventory");
    expect(states.map((s) => [s.method.split("/")[1], s.state])).to.deep.equal([
      ["ListItems", "closed"],
      ["GetItem", "open"],
    ]);
    const result = check.run();
    expect(result.ok).to.equal(true);
    expect(result.detail).to.contain("GetItem");
  });

  it("fails naming the target once every breaker with recent calls is open", async () => {
    const check = breakersCheck(clients, "inventory");
    // A short window: ListItems' one success soon says nothing about now.
    const client = clients.client(InventoryService, target(300));
    await client.listItems({});
    const result = await eventually(
      "every inventory breaker open",
      async () => {
        await client.getItem({ sku: "DOWN-1" }).catch(() => undefined);
        return check.run();
      },
      (r) => !r.ok,
    );
    expect(result.ok).to.equal(false);
    expect(result.detail).to.equal(
      "every breaker of inventory in use is open: meshwork.inventory.v1.InventoryService/GetItem",
    );
    expect(check.name).to.equal("breakers:inventory");
  });
});
