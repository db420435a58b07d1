import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { expect } from "chai";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { RouteRulesSchema, RoutingService, type RouteRules } from "../../gen/meshwork/routing/v1/routing_pb.js";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { Registry } from "prom-client";
import { eventually } from "../../test/support/eventually.js";
import { routingMetrics } from "../metrics/routing-metrics.js";
import { ResilienceEvents } from "../resilience/resilience-events.js";
import { createTracing } from "../telemetry/tracing.js";
import { ClientFactory, createLogger, registration, serve, type MeshServer } from "../index.js";
import { createRoutingService, mirrorHeader, RouteTable, watchRouteFile, type RouteFileWatch } from "./index.js";

const logger = createLogger("routing-test", "silent");

/** An inventory server that answers GetItem with its version as the item's name, and counts mirrored copies. */
async function startVersion(version: string, seen: { mirrored: number; calls: number }): Promise<MeshServer> {
  return serve({
    port: 0,
    logger,
    gracePeriodMs: 1000,
    services: [
      registration(InventoryService, {
        getItem(req, context) {
          seen.calls++;
          if (context.requestHeader.get(mirrorHeader) === "1") {
            seen.mirrored++;
            if (req.sku === "FAIL-MIRROR") {
              throw new ConnectError("mirror copies fail here", Code.Internal);
            }
          }
          return { item: create(ItemSchema, { sku: req.sku, name: version, available: 1 }) };
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

/** Runs fn(0..total-1), at most 32 at a time (the target's bulkhead admits 64). */
async function forEach(total: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < total) {
        await fn(next++);
      }
    }),
  );
}

function rules(json: unknown): RouteRules {
  return create(RouteRulesSchema, json as never);
}

const getItem = `${InventoryService.typeName}/GetItem`;
const reserveStock = `${InventoryService.typeName}/ReserveStock`;

describe("routing between versions (mesh/routing) over real servers", function () {
  this.timeout(60_000);
  const seen = { stable: { mirrored: 0, calls: 0 }, canary: { mirrored: 0, calls: 0 } };
  let stable: MeshServer;
  let canary: MeshServer;
  let table: RouteTable;
  let clients: ClientFactory;
  let inventory: Client<typeof InventoryService>;

  before(async () => {
    stable = await startVersion("stable", seen.stable);
    canary = await startVersion("canary", seen.canary);
  });
  after(async () => {
    await Promise.all([stable.shutdown(), canary.shutdown()]);
  });
  beforeEach(() => {
    table = new RouteTable();
    clients = new ClientFactory({ routes: table });
    inventory = clients.client(InventoryService, {
      name: "inventory",
      endpoints: stable.url,
      versions: { stable: stable.url, canary: canary.url },
    });
    for (const counts of Object.values(seen)) {
      counts.mirrored = 0;
      counts.calls = 0;
    }
  });
  afterEach(() => clients.close());

  /** Makes `total` GetItem calls, `concurrency` at a time, each with the headers `headersOf(i)`; counts answers by version. */
  async function spread(total: number, headersOf: (i: number) => HeadersInit = () => ({}), concurrency = 32): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const i = next++;
          const res = await inventory.getItem({ sku: "MUG-001" }, { headers: headersOf(i) });
          const version = res.item?.name ?? "?";
          counts.set(version, (counts.get(version) ?? 0) + 1);
        }
      }),
    );
    return counts;
  }

  it("sends every call to the stable version when no rule applies", async () => {
    const counts = await spread(200);
    expect(Object.fromEntries(counts)).to.deep.equal({ stable: 200 });
  });

  it("honours 95/5 weights within statistical bounds over 10,000 calls", async () => {
    table.replace(rules({ targets: { inventory: { allMethods: { weights: { stable: 95, canary: 5 } } } } }), "test");
    const counts = await spread(10_000);
    // Binomial(10,000, 0.05): mean 500, standard deviation 21.8; five deviations either side.
    const onCanary = counts.get("canary") ?? 0;
    expect(onCanary).to.be.within(391, 609);
    expect((counts.get("stable") ?? 0) + onCanary).to.equal(10_000);
  });

  it("routes by header match exactly, before the weights", async () => {
    table.replace(
      rules({
        targets: {
          inventory: {
            allMethods: { matches: [{ header: "x-canary", value: "1", version: "canary" }], weights: { stable: 100 } },
          },
        },
      }),
      "test",
    );
    const counts = await spread(400, (i): Record<string, string> => (i % 4 === 0 ? { "x-canary": "1" } : i % 4 === 1 ? { "x-canary": "0" } : {}));
    expect(Object.fromEntries(counts)).to.deep.equal({ canary: 100, stable: 300 });
  });

  it("keeps each customer on one version with a sticky cohort, and about half the customers on each at 50/50", async () => {
    table.replace(
      rules({ targets: { inventory: { allMethods: { weights: { stable: 50, canary: 50 }, stickyHeader: "x-customer-id" } } } }),
      "test",
    );
    const versionOf = new Map<string, Set<string>>();
    for (let round = 0; round < 5; round++) {
      await forEach(200, async (c) => {
          const customer = `customer-${c}`;
          const res = await inventory.getItem({ sku: "MUG-001" }, { headers: { "x-customer-id": customer } });
          const versions = versionOf.get(customer) ?? new Set<string>();
          versions.add(res.item?.name ?? "?");
          versionOf.set(customer, versions);
        });
    }
    for (const [customer, versions] of versionOf) {
      expect([...versions], customer).to.have.length(1);
    }
    const onCanary = [...versionOf.values()].filter((v) => v.has("canary")).length;
    // Binomial(200, 0.5): mean 100, standard deviation 7.1; five deviations either side.
    expect(onCanary).to.be.within(65, 135);
  });

  it("moves a customer only when the weights move past their cohort: raising the canary from 10% to 20% keeps the first 10% there", async () => {
    const at = async (canaryWeight: number): Promise<Set<string>> => {
      table.replace(
        rules({
          targets: { inventory: { allMethods: { weights: { stable: 100 - canaryWeight, canary: canaryWeight }, stickyHeader: "x-customer-id" } } },
        }),
        "test",
      );
      const onCanary = new Set<string>();
      await forEach(500, async (c) => {
          const res = await inventory.getItem({ sku: "MUG-001" }, { headers: { "x-customer-id": `c${c}` } });
          if (res.item?.name === "canary") {
            onCanary.add(`c${c}`);
          }
        });
      return onCanary;
    };
    const first = await at(10);
    const second = await at(20);
    expect(first.size).to.be.greaterThan(0);
    for (const customer of first) {
      expect(second.has(customer), customer).to.equal(true);
    }
    expect(second.size).to.be.greaterThan(first.size);
  });

  it("mirrors a read-only method to the canary: the caller gets the stable answer, the canary a marked copy, and a failing copy fails nothing", async () => {
    table.replace(
      rules({ targets: { inventory: { methods: { [getItem]: { weights: { stable: 100 }, mirror: { version: "canary", percent: 100 } } } } } }),
      "test",
    );
    for (let i = 0; i < 20; i++) {
      const res = await inventory.getItem({ sku: i % 2 === 0 ? "MUG-001" : "FAIL-MIRROR" });
      expect(res.item?.name).to.equal("stable");
    }
    await eventually("the canary received 20 mirrored copies", () => seen.canary.mirrored === 20);
    expect(seen.stable.mirrored).to.equal(0);
    expect(seen.canary.calls).to.equal(20);
  });

  it("refuses rules it cannot apply, naming each problem, and keeps the rules in force", () => {
    const good = rules({ targets: { inventory: { allMethods: { weights: { stable: 90, canary: 10 } } } } });
    table.replace(good, "test");
    const refuse = (bad: unknown, message: RegExp): void => {
      expect(() => table.replace(rules(bad), "test"))
        .to.throw(ConnectError, message)
        .with.property("code", Code.InvalidArgument);
      expect(table.current).to.equal(good);
    };
    refuse({ targets: { inventory: { allMethods: { weights: { stable: 50, beta: 50 } } } } }, /unknown version "beta"/);
    refuse({ targets: { inventory: { allMethods: { weights: { stable: 50, canary: 40 } } } } }, /add up to 90, not 100/);
    refuse({ targets: { inventory: { methods: { [reserveStock]: { mirror: { version: "canary", percent: 10 } } } } } }, /only methods without side effects may be mirrored, not ReserveStock/);
    refuse({ targets: { inventory: { allMethods: { mirror: { version: "canary", percent: 10 } } } } }, /may be mirrored, not .*ReserveStock/);
    refuse({ targets: { inventory: { methods: { "meshwork.inventory.v1.InventoryService/Nope": { weights: { stable: 100 } } } } } }, /has no such method/);
    refuse({ targets: { inventory: { allMethods: { matches: [{ header: "x-canary", value: "1", version: "v9" }] } } } }, /unknown version "v9"/);
    // Another process's target is not this process's business.
    table.replace(rules({ targets: { payments: { allMethods: { weights: { v7: 100 } } } } }), "test");
  });

  it("puts each decision on the call's CLIENT span and in version-labelled metrics, never an id", async () => {
    const exporter = new InMemorySpanExporter();
    const { tracer, provider } = createTracing({ sampleRatio: 1, exporter, export: "simple" });
    const registry = new Registry();
    const routes = new RouteTable();
    const events = new ResilienceEvents();
    routingMetrics(registry, routes).observe(events);
    const traced = new ClientFactory({ routes, events, tracer });
    try {
      const client = traced.client(InventoryService, { name: "inventory", endpoints: stable.url, versions: { stable: stable.url, canary: canary.url } });
      routes.replace(
        rules({ targets: { inventory: { allMethods: { matches: [{ header: "x-canary", value: "1", version: "canary" }], weights: { stable: 100 } } } } }),
        "test",
      );
      await client.getItem({ sku: "MUG-001" }, { headers: { "x-canary": "1", "x-customer-id": "alice" } });
      await client.getItem({ sku: "MUG-001" });
      const spans = exporter.getFinishedSpans();
      expect(spans.map((span) => [span.attributes["meshwork.route.version"], span.attributes["meshwork.route.reason"]])).to.deep.equal([
        ["canary", "header"],
        ["stable", "weight"],
      ]);
      const text = await registry.metrics();
      expect(text).to.match(/meshwork_routed_requests_total\{target="inventory",service="meshwork.inventory.v1.InventoryService",method="GetItem",version="canary",code="ok"\} 1/);
      expect(text).to.match(/meshwork_route_decisions_total\{[^}]*version="stable",reason="weight"\} 1/);
      expect(text).to.match(/meshwork_route_weight\{target="inventory",method="\*",version="canary"\} 0/);
      expect(text).not.to.include("alice");
    } finally {
      traced.close();
      await provider.shutdown();
    }
  });

  describe("rules from a watched file", () => {
    let dir: string;
    let watch: RouteFileWatch | undefined;
    beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "routes-"))));
    afterEach(() => {
      watch?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Writes the file as an operator's tool should: a new file renamed over the old one. */
    function writeRoutes(file: string, json: unknown): void {
      writeFileSync(`${file}.tmp`, JSON.stringify(json));
      renameSync(`${file}.tmp`, file);
    }

    it("picks up each change without a restart and without a failed call, and keeps the last good rules after a bad edit", async () => {
      const file = path.join(dir, "routes.json");
      const weights = (canary: number): unknown => ({ targets: { inventory: { allMethods: { weights: { stable: 100 - canary, canary } } } } });
      writeRoutes(file, weights(0));
      watch = watchRouteFile(file, table, logger, 20);
      let failures = 0;
      let running = true;
      const lastVersion: string[] = [];
      const load = Promise.all(
        Array.from({ length: 8 }, async () => {
          while (running) {
            try {
              const res = await inventory.getItem({ sku: "MUG-001" });
              lastVersion.push(res.item?.name ?? "?");
              lastVersion.splice(0, Math.max(0, lastVersion.length - 50));
            } catch {
              failures++;
            }
          }
        }),
      );
      const allOn = (version: string) => () => lastVersion.length >= 50 && lastVersion.every((v) => v === version);
      try {
        await eventually("every call on stable", allOn("stable"));
        writeRoutes(file, weights(100));
        await eventually("every call on canary after the file changed", allOn("canary"));
        writeFileSync(file, "{ not json");
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(table.current.targets.inventory?.allMethods?.weights).to.deep.equal({ stable: 0, canary: 100 });
        writeRoutes(file, weights(0));
        await eventually("every call back on stable", allOn("stable"));
      } finally {
        running = false;
        await load;
      }
      expect(failures).to.equal(0);
    });

    it("refuses to start from a bad file, naming it", () => {
      const file = path.join(dir, "routes.json");
      writeRoutes(file, { targets: { inventory: { allMethods: { weights: { stable: 101 } } } } });
      expect(() => watchRouteFile(file, table, logger)).to.throw(/routes file .*routes\.json: .*weights/);
    });
  });

  describe("RoutingService (operator RPC)", () => {
    let admin: MeshServer;
    before(async () => {
      admin = await serve({ port: 0, logger, services: [createRoutingService(table0(), logger)] });
    });
    after(() => admin.shutdown());
    let shared: RouteTable | undefined;
    /** The table the operator's server and the test's client share (made once, before the server). */
    function table0(): RouteTable {
      shared ??= new RouteTable();
      return shared;
    }

    it("reads and replaces the rules in force; refused rules are InvalidArgument and change nothing", async () => {
      const routing = clients.client(RoutingService, admin.url);
      const routed = new ClientFactory({ routes: table0() });
      routed.client(InventoryService, { name: "inventory", endpoints: stable.url, versions: { stable: stable.url, canary: canary.url } });
      try {
        expect((await routing.getRoutes({})).source).to.equal("none");
        const set = await routing.setRoutes({ rules: { targets: { inventory: { allMethods: { weights: { stable: 80, canary: 20 } } } } } });
        expect(set.rules?.targets.inventory?.allMethods?.weights).to.deep.equal({ stable: 80, canary: 20 });
        const got = await routing.getRoutes({});
        expect(got.source).to.equal("rpc");
        const bad = await routing.setRoutes({ rules: { targets: { inventory: { allMethods: { weights: { canary: 20 } } } } } }).catch((e: unknown) => e);
        expect(bad).to.be.instanceOf(ConnectError).with.property("code", Code.InvalidArgument);
        expect((bad as ConnectError).rawMessage).to.match(/add up to 20, not 100/);
        expect((await routing.getRoutes({})).rules?.targets.inventory?.allMethods?.weights).to.deep.equal({ stable: 80, canary: 20 });
      } finally {
        routed.close();
      }
    });
  });
});

