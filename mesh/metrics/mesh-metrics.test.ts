import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { Counter } from "prom-client";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory } from "../client/client-factory.js";
import { createLogger } from "../logger.js";
import { DualProtocolListener } from "../server/dual-protocol-listener.js";
import { registration, serve, type MeshServer } from "../server/serve.js";
import { createMeshMetrics, type MeshMetrics } from "./mesh-metrics.js";
import { metricsEndpoint } from "./metrics-endpoint.js";

const logger = createLogger("metrics-test", "silent");
const service = "meshwork.inventory.v1.InventoryService";
const getItem = `${service}/GetItem`;

interface Latch {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function latch(): Latch {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A call the test holds in the handler until it lets go. */
const held = { entered: latch(), release: latch() };

/**
 * GetItem answers by SKU prefix: DOWN- fails Unavailable, GONE- NotFound,
 * BOOM a raw Error, SLOW-n waits n ms, HOLD waits for `held.release`.
 */
function startServer(metrics: MeshMetrics): Promise<MeshServer> {
  return serve({
    port: 0,
    logger,
    interceptors: [metrics.serverInterceptor()],
    services: [
      registration(InventoryService, {
        async getItem(req) {
          if (req.sku.startsWith("DOWN-")) {
            throw new ConnectError("down for the test", Code.Unavailable);
          }
          if (req.sku.startsWith("GONE-")) {
            throw new ConnectError("no such item", Code.NotFound);
          }
          if (req.sku === "BOOM") {
            throw new Error("a bug");
          }
          if (req.sku === "HOLD") {
            held.entered.resolve();
            await held.release.promise;
          }
          if (req.sku.startsWith("SLOW-")) {
            await new Promise((resolve) => setTimeout(resolve, Number(req.sku.slice(5))));
          }
          return { item: create(ItemSchema, { sku: req.sku, name: "Test item", available: 3 }) };
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

/** The value of one series in a text exposition, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const rendered = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${rendered}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Every label name and value in a text exposition. */
function labelsIn(text: string): { names: Set<string>; values: Set<string> } {
  const names = new Set<string>();
  const values = new Set<string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) {
      continue;
    }
    for (const m of line.matchAll(/([a-z_]+)="([^"]*)"/g)) {
      names.add(m[1] ?? "");
      values.add(m[2] ?? "");
    }
  }
  return { names, values };
}

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  return call.then(
    () => expect.fail("expected an error"),
    (e: unknown) => ConnectError.from(e),
  );
}

describe("mesh metrics", () => {
  let metrics: MeshMetrics;
  let server: MeshServer;
  let clients: ClientFactory;
  let unsubscribe: () => void;
  beforeEach(async () => {
    metrics = createMeshMetrics();
    server = await startServer(metrics);
    clients = new ClientFactory({ interceptors: [metrics.clientInterceptor()] });
    unsubscribe = metrics.observeResilience(clients.events);
  });
  afterEach(async () => {
    unsubscribe();
    clients.close();
    await server.shutdown();
  });

  it("counts server and client calls by code, with sub-millisecond buckets and nothing left in flight", async () => {
    const client = clients.client(InventoryService, { name: "inventory", endpoints: server.url, retry: false, breaker: false });
    await Promise.all([client.getItem({ sku: "MUG-001" }), client.getItem({ sku: "MUG-002" }), client.getItem({ sku: "SLOW-20" })]);
    expect((await failure(client.getItem({ sku: "GONE-1" }))).code).to.equal(Code.NotFound);
    expect((await failure(client.getItem({ sku: "BOOM" }))).code).to.equal(Code.Internal);

    const text = await metrics.metricsText();
    const server3 = { service, method: "GetItem" };
    const client3 = { target: "inventory", service, method: "GetItem" };
    expect(sample(text, "meshwork_server_requests_total", { ...server3, code: "ok" })).to.equal(3);
    expect(sample(text, "meshwork_server_requests_total", { ...server3, code: "not_found" })).to.equal(1);
    expect(sample(text, "meshwork_server_requests_total", { ...server3, code: "internal" })).to.equal(1);
    expect(sample(text, "meshwork_client_requests_total", { ...client3, code: "ok" })).to.equal(3);
    expect(sample(text, "meshwork_client_requests_total", { ...client3, code: "not_found" })).to.equal(1);
    expect(sample(text, "meshwork_client_requests_total", { ...client3, code: "internal" })).to.equal(1);

    expect(sample(text, "meshwork_server_request_duration_seconds_count", server3)).to.equal(5);
    expect(sample(text, "meshwork_client_request_duration_seconds_count", client3)).to.equal(5);
    // Every bound from 50 µs up is exposed, cumulative, ending in all five calls.
    const bounds = ["0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "10", "+Inf"];
    const counts = bounds.map((le) => sample(text, "meshwork_server_request_duration_seconds_bucket", { le, ...server3 }));
    for (const [i, count] of counts.entries()) {
      expect(count, `le=${bounds[i]}`).to.be.a("number");
      expect(count).to.be.at.least(counts[i - 1] ?? 0);
    }
    expect(counts.at(-1)).to.equal(5);

    expect(sample(text, "meshwork_server_in_flight", server3)).to.equal(0);
    expect(sample(text, "meshwork_client_in_flight", client3)).to.equal(0);
  });

  it("shows calls in flight while they run", async () => {
    const client = clients.client(InventoryService, { name: "inventory", endpoints: server.url });
    held.entered = latch();
    held.release = latch();
    const holding = client.getItem({ sku: "HOLD" });
    await held.entered.promise;
    const text = await metrics.metricsText();
    expect(sample(text, "meshwork_server_in_flight", { service, method: "GetItem" })).to.equal(1);
    expect(sample(text, "meshwork_client_in_flight", { target: "inventory", service, method: "GetItem" })).to.equal(1);
    held.release.resolve();
    await holding;
    const after = await metrics.metricsText();
    expect(sample(after, "meshwork_server_in_flight", { service, method: "GetItem" })).to.equal(0);
  });

  it("reports retries, a breaker opening and its rejections", async () => {
    const client = clients.client(InventoryService, {
      name: "flaky",
      endpoints: server.url,
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
      retry: { maxAttempts: 2, initialBackoffMs: 1 },
    });
    for (let i = 0; i < 4; i++) {
      expect((await failure(client.getItem({ sku: "DOWN-1" }))).code).to.equal(Code.Unavailable);
    }

    const text = await metrics.metricsText();
    const labels = { target: "flaky", method: getItem };
    expect(sample(text, "meshwork_breaker_state", labels)).to.equal(2);
    expect(sample(text, "meshwork_breaker_transitions_total", { ...labels, to: "open" })).to.equal(1);
    expect(sample(text, "meshwork_breaker_rejected_total", labels)).to.be.greaterThan(0);
    expect(sample(text, "meshwork_retries_total", labels)).to.be.greaterThan(0);
    expect(sample(text, "meshwork_client_requests_total", { target: "flaky", service, method: "GetItem", code: "unavailable" })).to.equal(4);
  });

  it("shows a breaker closed from its first call when it reads the factory's breakers", async () => {
    metrics.observeBreakers(clients);
    expect(await metrics.metricsText()).not.to.contain("meshwork_breaker_state{");
    await clients.client(InventoryService, { name: "inventory", endpoints: server.url }).getItem({ sku: "MUG-001" });
    const text = await metrics.metricsText();
    expect(sample(text, "meshwork_breaker_state", { target: "inventory", method: getItem })).to.equal(0);
    expect(text).not.to.contain("meshwork_breaker_transitions_total{");
  });

  it("keeps ids out of labels", async () => {
    const client = clients.client(InventoryService, { name: "inventory", endpoints: server.url });
    for (const sku of ["MUG-001", "MUG-002", "GONE-77"]) {
      await client.getItem({ sku }).catch(() => undefined);
    }
    await client.getItem({ sku: "MUG-003" }, { headers: { "x-request-id": "3f2c9a4e-0d1b-4c55-9a7e-1b2c3d4e5f60" } });
    const { names, values } = labelsIn(await metrics.metricsText());
    expect([...names].sort()).to.deep.equal(["code", "le", "method", "service", "target"]);
    for (const value of values) {
      expect(value).not.to.match(/MUG-|GONE-|[0-9a-f]{8}-[0-9a-f]{4}-/);
      expect(value).not.to.contain(String(server.port));
    }
  });

  it("names a target by its URL when the client has no name", async () => {
    await clients.client(InventoryService, server.url).getItem({ sku: "MUG-001" });
    const text = await metrics.metricsText();
    expect(sample(text, "meshwork_client_requests_total", { target: server.url, service, method: "GetItem", code: "ok" })).to.equal(1);
  });

  it("adds process metrics only when asked", async () => {
    expect(await metrics.metricsText()).not.to.contain("process_cpu_seconds_total");
    const withProcess = createMeshMetrics({ collectProcess: true });
    const text = await withProcess.metricsText();
    expect(text).to.contain("process_cpu_seconds_total");
    expect(text).to.contain("nodejs_eventloop_lag_seconds");
  });
});

describe("metricsEndpoint", () => {
  let listener: DualProtocolListener;
  let base: string;
  const metrics = createMeshMetrics();
  before(async () => {
    new Counter({ name: "endpoint_test_total", help: "A series the endpoint must serve.", registers: [metrics.registry] }).inc();
    const route = metricsEndpoint(metrics);
    listener = new DualProtocolListener((req, res) => {
      if (!route(req, res)) {
        res.writeHead(404);
        res.end();
      }
    });
    base = `http://127.0.0.1:${await listener.listen(0, "127.0.0.1")}`;
  });
  after(async () => {
    listener.destroy();
    await listener.drain();
  });

  it("serves the text exposition on GET /metrics", async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.equal(metrics.contentType);
    expect(await res.text()).to.contain("\nendpoint_test_total 1\n");
  });

  it("answers HEAD without a body, refuses other methods, and leaves other paths alone", async () => {
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    expect(head.status).to.equal(200);
    expect(await head.text()).to.equal("");
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    expect(post.status).to.equal(405);
    expect(post.headers.get("allow")).to.equal("GET, HEAD");
    expect((await fetch(`${base}/metricsx`)).status).to.equal(404);
  });
});
