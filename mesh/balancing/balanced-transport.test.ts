import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { expect } from "chai";
import net from "node:net";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { dependencyUnavailable } from "../dependency-unavailable.js";
import { createLogger, registration, serve, type MeshServer } from "../index.js";
import { ResilienceEvents, type ResilienceEventMap } from "../resilience/resilience-events.js";
import { createBalancedTransport, type BalancedTransport, type EndpointTransport } from "./balanced-transport.js";
import { dnsEndpoints, staticEndpoints, type EndpointResolver } from "./endpoint-resolver.js";
import type { OutlierDetectorOptions } from "./outlier-detector.js";

const logger = createLogger("balanced-transport-test", "silent");

/** An inventory server whose items are named after `index`, so a reply says who answered. */
function startServer(index: number, port = 0): Promise<MeshServer> {
  return serve({
    port,
    logger,
    gracePeriodMs: 1000,
    services: [
      registration(InventoryService, {
        getItem(req) {
          if (req.sku === "MISSING") {
            throw new ConnectError("no such item", Code.NotFound);
          }
          if (req.sku === "BACKORDERED") {
            // The handler's own dependency is down: an answer too.
            throw dependencyUnavailable("warehouse", "the warehouse is unavailable");
          }
          if (req.sku === "LATE") {
            // The handler's own downstream ran out of time: an answer.
            throw new ConnectError("deadline exceeded for a call downstream", Code.DeadlineExceeded);
          }
          return { item: create(ItemSchema, { sku: req.sku, name: String(index), available: 1 }) };
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

/** One HTTP/2 session per endpoint, closed when the balancer drops the endpoint. */
function makeTransport(url: string): EndpointTransport {
  const sessionManager = new Http2SessionManager(url);
  const transport = createGrpcTransport({ baseUrl: url, sessionManager });
  return { unary: transport.unary.bind(transport), stream: transport.stream.bind(transport), close: () => sessionManager.abort() };
}

describe("createBalancedTransport over real servers", () => {
  let servers: (MeshServer | undefined)[];
  let urls: string[];
  let events: ResilienceEvents;
  let ejected: ResilienceEventMap["endpointEjected"][0][];
  let restored: ResilienceEventMap["endpointRestored"][0][];
  let transport: BalancedTransport | undefined;

  beforeEach(async () => {
    servers = await Promise.all([0, 1, 2].map((i) => startServer(i)));
    urls = servers.map((s) => s!.url);
    events = new ResilienceEvents();
    ejected = [];
    restored = [];
    events.on("endpointEjected", (e) => ejected.push(e));
    events.on("endpointRestored", (e) => restored.push(e));
  });
  afterEach(async () => {
    transport?.close();
    transport = undefined;
    await Promise.all(servers.flatMap((s) => (s === undefined ? [] : [s.shutdown()])));
  });

  function client(resolver: EndpointResolver, outlier?: OutlierDetectorOptions): Client<typeof InventoryService> {
    transport = createBalancedTransport({ target: "inventory", resolver, makeTransport, events, outlier });
    return createClient(InventoryService, transport);
  }

  /** Makes `total` calls, `concurrency` at a time; returns how many each server answered. */
  async function spread(
    c: Client<typeof InventoryService>,
    total: number,
    concurrency = 4,
    onAnswer?: (answered: number) => void,
  ): Promise<number[]> {
    const counts = [0, 0, 0];
    let started = 0;
    let answered = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < total) {
          started++;
          const res = await c.getItem({ sku: "MUG-001" });
          counts[Number(res.item?.name)]! += 1;
          onAnswer?.(++answered);
        }
      }),
    );
    return counts;
  }

  it("spreads calls evenly, round-robin", async () => {
    const counts = await spread(client(staticEndpoints(urls)), 300);
    for (const count of counts) {
      expect(count).to.be.within(95, 105);
    }
  });

  it("loses no call when a server goes away, ejects it and uses the others", async () => {
    const c = client(staticEndpoints(urls), { baseEjectionMs: 60_000, maxEjectionMs: 60_000 });
    await spread(c, 60);
    await servers[1]!.shutdown();
    servers[1] = undefined;
    // Every call refused by server 1 went to another endpoint; none failed.
    const after = await spread(c, 300);
    expect(ejected.map((e) => e.endpoint)).to.deep.equal([urls[1]]);
    expect(ejected[0]).to.deep.include({ target: "inventory", ejectionMs: 60_000, consecutiveFailures: 5 });
    expect(after[1]).to.equal(0);
    expect(after[0]).to.be.within(140, 160);
    expect(after[2]).to.be.within(140, 160);
  });

  it("loses no call while a server shuts down under concurrent load", async () => {
    const c = client(staticEndpoints(urls), { baseEjectionMs: 60_000, maxEjectionMs: 60_000 });
    let shutdown: Promise<void> | undefined;
    const counts = await spread(c, 600, 6, (answered) => {
      if (answered === 100) {
        shutdown = servers[2]!.shutdown();
      }
    });
    await shutdown;
    servers[2] = undefined;
    expect(counts.reduce((a, b) => a + b)).to.equal(600);
    expect(ejected.map((e) => e.endpoint)).to.deep.equal([urls[2]]);
  });

  it("probes an ejected server back once it is up again", async () => {
    const c = client(staticEndpoints(urls), { baseEjectionMs: 200, maxEjectionMs: 400 });
    const port = servers[0]!.port;
    await servers[0]!.shutdown();
    servers[0] = undefined;
    await spread(c, 30);
    expect(ejected.map((e) => e.endpoint)).to.deep.include(urls[0]);
    servers[0] = await startServer(0, port);
    const deadline = Date.now() + 10_000;
    while (restored.length === 0 && Date.now() < deadline) {
      await spread(c, 10, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(restored).to.deep.equal([{ target: "inventory", endpoint: urls[0] }]);
    const counts = await spread(c, 300);
    expect(counts[0]).to.be.within(90, 110);
  });

  it("counts application errors as answers, not as failures", async () => {
    const c = client(staticEndpoints(urls), { consecutiveFailures: 2 });
    for (let i = 0; i < 12; i++) {
      const err = await c.getItem({ sku: "MISSING" }).then(
        () => expect.fail("expected NotFound"),
        (e: unknown) => ConnectError.from(e),
      );
      expect(err.code).to.equal(Code.NotFound);
    }
    expect(ejected).to.deep.equal([]);
  });

  it("counts an Unavailable the endpoint answers about its own dependency as an answer", async () => {
    const c = client(staticEndpoints(urls), { consecutiveFailures: 2 });
    for (let i = 0; i < 12; i++) {
      const err = await c.getItem({ sku: "BACKORDERED" }).then(
        () => expect.fail("expected Unavailable"),
        (e: unknown) => ConnectError.from(e),
      );
      expect(err.code).to.equal(Code.Unavailable);
    }
    expect(ejected).to.deep.equal([]);
  });

  it("counts calls that run out of their deadline waiting on a silent endpoint, and ejects it", async () => {
    // A host cut off without closing its connections: it takes the connection
    // and answers nothing.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const c = client(staticEndpoints([urls[0]!, silentUrl]), { consecutiveFailures: 2, baseEjectionMs: 60_000, maxEjectionMs: 60_000 });
      const codes: (Code | "ok")[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push(await c.getItem({ sku: "MUG-001" }, { timeoutMs: 300 }).then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code));
      }
      expect(codes.filter((code) => code === Code.DeadlineExceeded)).to.have.length(2);
      expect(ejected.map((e) => e.endpoint)).to.deep.equal([silentUrl]);
      // Ejected: every call goes to the endpoint that answers.
      for (let i = 0; i < 6; i++) {
        expect((await c.getItem({ sku: "MUG-001" }, { timeoutMs: 300 })).item?.name).to.equal("0");
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("counts a DeadlineExceeded the endpoint answers as an answer", async () => {
    const c = client(staticEndpoints(urls), { consecutiveFailures: 2 });
    for (let i = 0; i < 6; i++) {
      const err = await c.getItem({ sku: "LATE" }).then(
        () => expect.fail("expected DeadlineExceeded"),
        (e: unknown) => ConnectError.from(e),
      );
      expect(err.code).to.equal(Code.DeadlineExceeded);
    }
    expect(ejected).to.deep.equal([]);
  });

  it("fails with Unavailable when the only endpoint is down, and never ejects it", async () => {
    await servers[0]!.shutdown();
    const c = client(staticEndpoints([urls[0]!]), { consecutiveFailures: 2 });
    for (let i = 0; i < 5; i++) {
      const err = await c.getItem({ sku: "MUG-001" }).then(
        () => expect.fail("expected Unavailable"),
        (e: unknown) => ConnectError.from(e),
      );
      expect(err.code).to.equal(Code.Unavailable);
    }
    expect(ejected).to.deep.equal([]);
  });

  it("follows re-resolution, keeps the last good list when resolution fails, and closes dropped endpoints", async () => {
    let answer: string[] | Error = [urls[0]!, urls[1]!];
    let resolutions = 0;
    const resolver: EndpointResolver = {
      resolve: () => {
        resolutions++;
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
    };
    // Two more resolutions: the second starts after the first has been applied.
    const twoMoreResolutions = async (): Promise<void> => {
      const target = resolutions + 2;
      const deadline = Date.now() + 10_000;
      while (resolutions < target && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const closed: string[] = [];
    transport = createBalancedTransport({
      target: "inventory",
      resolver,
      refreshMs: 50,
      events,
      makeTransport: (url) => {
        const t = makeTransport(url);
        return { ...t, close: () => (closed.push(url), t.close?.()) };
      },
    });
    const c = createClient(InventoryService, transport);
    expect(await spread(c, 20)).to.deep.equal([10, 10, 0]);
    answer = [urls[1]!, urls[2]!];
    await twoMoreResolutions();
    expect(await spread(c, 20)).to.deep.equal([0, 10, 10]);
    expect(closed).to.deep.equal([urls[0]]);
    answer = new Error("resolver down");
    await twoMoreResolutions();
    expect(await spread(c, 20)).to.deep.equal([0, 10, 10]);
  });

  it("balances streams and counts a refused stream against its endpoint", async () => {
    await servers[0]!.shutdown();
    servers[0] = undefined;
    transport = createBalancedTransport({
      target: "inventory",
      resolver: staticEndpoints(urls),
      makeTransport,
      events,
      outlier: { consecutiveFailures: 1 },
    });
    const health = createClient(Health, transport);
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      try {
        for await (const res of health.watch({ service: "" })) {
          outcomes.push(HealthCheckResponse_ServingStatus[res.status]);
          break;
        }
      } catch (e) {
        outcomes.push(Code[ConnectError.from(e).code]);
      }
    }
    // Round-robin starts at server 0; once it is ejected the others take turns.
    expect(outcomes).to.deep.equal(["Unavailable", "SERVING", "SERVING", "SERVING"]);
    expect(ejected.map((e) => e.endpoint)).to.deep.equal([urls[0]]);
  });

  it("reaches servers through a DNS name (localhost)", async () => {
    const resolver = dnsEndpoints({ host: "localhost", port: servers[2]!.port, family: 4 });
    const res = await client(resolver).getItem({ sku: "MUG-001" });
    expect(res.item?.name).to.equal("2");
  });
});
