import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { expect } from "chai";
import http2 from "node:http2";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory } from "../client/client-factory.js";
import { reasonOf } from "../errors.js";
import { createLogger } from "../logger.js";
import { createMeshMetrics, type MeshMetrics } from "../metrics/mesh-metrics.js";
import { ResilienceEvents } from "../resilience/resilience-events.js";
import { registration, serve } from "../server/serve.js";
import { traceClient } from "../telemetry/trace-client.js";
import { createTracing } from "../telemetry/tracing.js";
import { parseFaultConfig } from "./fault-config.js";
import { faultServer } from "./fault-server.js";
import { FaultInjector } from "./fault-injector.js";
import { faultInjectedReason } from "./run-fault-plan.js";

const logger = createLogger("faults-test", "silent");
const inventory = InventoryService.typeName;

/**
 * A real server (real sockets, serve()'s chain with tracing and metrics as
 * serviceRuntime sets it up: metrics, then inbound faults) and a client
 * factory with outbound faults, both on their own injectors.
 */
async function start() {
  const exporter = new InMemorySpanExporter();
  const { tracer, provider } = createTracing({ sampleRatio: 1, exporter, export: "simple" });
  const serverFaults = new FaultInjector();
  const clientFaults = new FaultInjector();
  const serverMetrics = createMeshMetrics();
  const clientMetrics = createMeshMetrics();
  serverMetrics.observeFaults(serverFaults);
  clientMetrics.observeFaults(clientFaults);
  let handled = 0;
  const server = await serve({
    port: 0,
    logger,
    tracer,
    interceptors: [serverMetrics.serverInterceptor(), faultServer(serverFaults)],
    services: [
      registration(InventoryService, {
        getItem(req) {
          handled++;
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
  const events = new ResilienceEvents();
  const clients = new ClientFactory({ events, faults: clientFaults, interceptors: [traceClient(tracer, events)] });
  // No retries and no breaker: every attempt's outcome is the call's.
  const client = clients.client(InventoryService, { name: "inventory", endpoints: server.url, retry: false, breaker: false });
  return {
    server,
    client,
    exporter,
    serverFaults,
    clientFaults,
    serverMetrics,
    clientMetrics,
    handled: () => handled,
    async stop() {
      clients.close();
      await server.shutdown();
      await provider.shutdown();
    },
  };
}

type Setup = Awaited<ReturnType<typeof start>>;

function rules(json: object) {
  return parseFaultConfig(JSON.stringify(json), "test");
}

/** The value of one series in the registry's text, 0 if absent. */
async function series(metrics: MeshMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const text = await metrics.metricsText();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

/** Runs `n` calls, `concurrency` at a time; resolves with the error of each failed one. */
async function calls(n: number, concurrency: number, call: (i: number) => Promise<unknown>): Promise<ConnectError[]> {
  const failures: ConnectError[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        await call(i).catch((e: unknown) => failures.push(ConnectError.from(e)));
      }
    }),
  );
  return failures;
}

describe("fault injection in the server and client chains (real sockets)", function () {
  this.timeout(60_000);
  let s: Setup;
  beforeEach(async () => {
    s = await start();
  });
  afterEach(async () => {
    await s.stop();
  });

  it("is off by default: no rules, no faults, nothing counted", async () => {
    const failures = await calls(200, 20, (i) => s.client.getItem({ sku: `SKU-${i}` }));
    expect(failures).to.deep.equal([]);
    expect(await series(s.serverMetrics, "meshwork_faults_injected_total", {})).to.equal(0);
  });

  it("aborts 10% of 2,000 inbound calls (within statistical bounds), each marked as injected in errors, metrics and spans", async () => {
    s.serverFaults.set(rules({ faults: [{ service: inventory, method: "GetItem", abort: { grpc_status: 14, percentage: { numerator: 10 } } }] }));
    const failures = await calls(2000, 32, (i) => s.client.getItem({ sku: `SKU-${i}` }));
    // Binomial(2000, 0.1): mean 200, sd 13.4; ±6 sd.
    expect(failures.length).to.be.within(120, 280);
    for (const err of failures) {
      expect(err.code).to.equal(Code.Unavailable);
      expect(reasonOf(err)).to.equal(faultInjectedReason);
    }
    expect(s.handled()).to.equal(2000 - failures.length);
    const labels = { direction: "inbound", service: inventory, method: "GetItem", fault: "abort" };
    expect(await series(s.serverMetrics, "meshwork_faults_injected_total", labels)).to.equal(failures.length);
    expect(await series(s.serverMetrics, "meshwork_server_requests_total", { method: "GetItem", code: "unavailable" })).to.equal(failures.length);
    const serverSpans = s.exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER && span.name.endsWith("GetItem"));
    const marked = serverSpans.filter((span) => span.attributes["meshwork.fault.injected"] === true);
    expect(marked).to.have.length(failures.length);
    expect(marked[0]?.events.map((e) => e.name)).to.include("fault_injected");
  });

  it("ends an inbound delay at the caller's deadline, on the server's own clock (a client that keeps no timer)", async () => {
    s.serverFaults.set(rules({ faults: [{ service: inventory, delay: { fixed_delay: "3600s", percentage: { numerator: 100 } } }] }));
    // A raw HTTP/2 gRPC request with grpc-timeout and no timer on this side:
    // without the server ending it at its deadline it would hang for an hour.
    const session = http2.connect(s.server.url);
    try {
      const status = await new Promise<string | undefined>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": `/${inventory}/GetItem`,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": "300m",
        });
        let grpcStatus: string | undefined;
        stream.on("response", (headers) => (grpcStatus = headers["grpc-status"] as string | undefined));
        stream.on("trailers", (trailers: http2.IncomingHttpHeaders) => (grpcStatus = trailers["grpc-status"] as string | undefined));
        stream.on("error", reject);
        stream.on("close", () => resolve(grpcStatus));
        stream.resume();
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
      });
      expect(status).to.equal(String(Code.DeadlineExceeded));
    } finally {
      session.close();
    }
    expect(s.handled()).to.equal(0);
    const labels = { direction: "inbound", method: "GetItem", fault: "delay" };
    expect(await series(s.serverMetrics, "meshwork_faults_injected_total", labels)).to.equal(1);
  });

  it("ends an outbound delay at the call's deadline without sending it, and marks the client span", async () => {
    s.clientFaults.set(
      rules({
        faults: [
          { direction: "DIRECTION_OUTBOUND", upstream_cluster: "inventory", delay: { fixed_delay: "3600s", percentage: { numerator: 100 } } },
        ],
      }),
    );
    const err = await s.client.getItem({ sku: "MUG-001" }, { timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).to.equal(Code.DeadlineExceeded);
    expect(s.handled()).to.equal(0);
    const labels = { direction: "outbound", target: "inventory", method: "GetItem", fault: "delay" };
    expect(await series(s.clientMetrics, "meshwork_faults_injected_total", labels)).to.equal(1);
    const clientSpan = s.exporter.getFinishedSpans().find((span) => span.kind === SpanKind.CLIENT);
    expect(clientSpan?.attributes["meshwork.fault.injected"]).to.equal(true);
  });

  it("aborts outbound calls before they leave, with the code of an http_status as gRPC maps it", async () => {
    s.clientFaults.set(
      rules({ faults: [{ direction: "DIRECTION_OUTBOUND", service: inventory, abort: { http_status: 503, percentage: { numerator: 100 } } }] }),
    );
    const failures = await calls(20, 4, () => s.client.getItem({ sku: "MUG-001" }));
    expect(failures.map((e) => e.code)).to.deep.equal(Array(20).fill(Code.Unavailable));
    expect(s.handled()).to.equal(0);
  });

  it("honours x-envoy-fault-* headers only when a rule enables them, and only from the callers it allows", async () => {
    const header = { headers: { "x-envoy-fault-abort-grpc-request": "8", "x-envoy-fault-abort-request-percentage": "100" } };
    const ask = () => s.client.getItem({ sku: "MUG-001" }, header).then(() => "ok", (e: unknown) => Code[ConnectError.from(e).code]);

    expect(await ask(), "no rule enables headers").to.equal("ok");
    s.serverFaults.set(
      rules({ faults: [{ service: inventory, downstream_nodes: ["10.9.9.9"], abort: { header_abort: {}, percentage: { numerator: 100 } } }] }),
    );
    expect(await ask(), "this caller is not allowed").to.equal("ok");
    s.serverFaults.set(
      rules({ faults: [{ service: inventory, downstream_nodes: ["127.0.0.1"], abort: { header_abort: {}, percentage: { numerator: 100 } } }] }),
    );
    expect(await ask(), "an allowed caller").to.equal("ResourceExhausted");
    expect(await s.client.getItem({ sku: "MUG-001" }).then(() => "ok"), "no header, no fault").to.equal("ok");
  });
});
