import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { Registry } from "prom-client";
import { parsePrometheusText } from "../../gateway/mesh-page/prometheus-text.js";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { RolloutState, RouteRulesSchema } from "../../gen/meshwork/routing/v1/routing_pb.js";
import { ClientFactory, createLogger, registration, RouteTable, serve, type MeshServer } from "../../mesh/index.js";
import { routingMetrics } from "../../mesh/metrics/routing-metrics.js";
import { ResilienceEvents } from "../../mesh/resilience/resilience-events.js";
import type { Slo } from "../../platform/catalogue/index.js";
import { defaultThresholds, type CanaryThresholds } from "./canary-analysis.js";
import { runCanary } from "./canary-controller.js";

const logger = createLogger("canary-test", "silent");

/** An inventory server; `failShare` of its GetItem calls fail with Unavailable (a bad release). */
function startVersion(failShare: number): Promise<MeshServer> {
  let calls = 0;
  return serve({
    port: 0,
    logger,
    gracePeriodMs: 500,
    services: [
      registration(InventoryService, {
        getItem(req) {
          // Every fifth call for 20%: a deterministic share, so the test does not depend on luck.
          if (failShare > 0 && calls++ % Math.round(1 / failShare) === 0) {
            throw new ConnectError("release bug", Code.Unavailable);
          }
          return { item: create(ItemSchema, { sku: req.sku, available: 1 }) };
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

describe("canary rollout from the mesh's own metrics (scripts/canary)", function () {
  this.timeout(120_000);

  interface RollOutOptions {
    readonly stableFailShare?: number;
    readonly steps?: readonly number[];
    readonly thresholds?: CanaryThresholds;
    readonly slos?: readonly Slo[];
    /** The published weights never reach the callers: every call stays on stable. */
    readonly routingBroken?: boolean;
  }

  async function rollOut(canaryFailShare: number, options: RollOutOptions = {}) {
    const stable = await startVersion(options.stableFailShare ?? 0);
    const canary = await startVersion(canaryFailShare);
    const routes = new RouteTable();
    const registry = new Registry();
    const events = new ResilienceEvents();
    routingMetrics(registry, routes).observe(events);
    const clients = new ClientFactory({ routes, events });
    const inventory = clients.client(InventoryService, {
      name: "inventory",
      endpoints: stable.url,
      versions: { stable: stable.url, canary: canary.url },
      // Each attempt is judged; no retries here, so a failure reaches the caller too.
      retry: false,
      breaker: false,
    });
    const weights: number[] = [];
    let running = true;
    let answered = 0;
    // Traffic from 200 customers, sticky by customer, as the gateway sends it.
    const load = Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; running; i++) {
          const customer = `customer-${(worker * 25 + (i % 25)) % 200}`;
          try {
            await inventory.getItem({ sku: "MUG-001" }, { headers: { "x-customer-id": customer } });
            answered++;
          } catch {
            // The canary's failures: what the analysis is for.
          }
        }
      }),
    );
    try {
      const rollout = await runCanary({
        target: "inventory",
        canary: "canary",
        stable: "stable",
        windowMs: 1000,
        settleMs: 0,
        ...(options.steps === undefined ? {} : { steps: options.steps }),
        ...(options.thresholds === undefined ? {} : { thresholds: options.thresholds }),
        ...(options.slos === undefined ? {} : { slos: options.slos }),
        logger,
        scrape: async () => [parsePrometheusText(await registry.metrics()).samples],
        async publish(weight, status) {
          weights.push(weight);
          routes.replace(
            create(RouteRulesSchema, {
              targets: {
                inventory: {
                  allMethods: {
                    weights: options.routingBroken === true ? { stable: 100, canary: 0 } : { stable: 100 - weight, canary: weight },
                    stickyHeader: "x-customer-id",
                  },
                  rollout: status,
                },
              },
            }),
            "canary",
          );
        },
      });
      running = false;
      await load;
      // After the decision every customer is on the version the rollout left in force, and it answers.
      let failedAfter = 0;
      for (let c = 0; c < 200; c++) {
        await inventory.getItem({ sku: "MUG-001" }, { headers: { "x-customer-id": `customer-${c}` } }).catch(() => failedAfter++);
      }
      return { rollout, weights, answered, failedAfter };
    } finally {
      running = false;
      await load;
      clients.close();
      await Promise.all([stable.shutdown(), canary.shutdown()]);
    }
  }

  it("rolls back a canary that fails 20% of its calls within two steps, saying why", async () => {
    const { rollout, weights, answered, failedAfter } = await rollOut(0.2);
    expect(rollout.state).to.equal(RolloutState.ROLLED_BACK);
    expect(rollout.decisions.length).to.be.within(1, 2);
    expect(rollout.decisions.at(-1)?.passed).to.equal(false);
    expect(rollout.decisions.at(-1)?.reason).to.match(/canary (error rate|failed)/);
    expect(weights.at(-1)).to.equal(0);
    expect(weights.slice(0, -1)).to.deep.equal([1, 5].slice(0, rollout.decisions.length));
    expect(answered).to.be.greaterThan(0);
    expect(failedAfter).to.equal(0);
  });

  it("promotes a healthy canary step by step to 100%", async () => {
    const { rollout, weights, failedAfter } = await rollOut(0);
    expect(failedAfter).to.equal(0);
    expect(rollout.state).to.equal(RolloutState.PROMOTED);
    expect(weights).to.deep.equal([1, 5, 25, 50, 100, 100]);
    expect(rollout.decisions.map((d) => d.passed)).to.deep.equal([true, true, true, true, true]);
    expect(rollout.decisions.map((d) => d.weight)).to.deep.equal([1, 5, 25, 50, 100]);
  });

  it("rolls back, saying why, a canary its weight does not reach instead of promoting what it never judged", async () => {
    const { rollout, weights, failedAfter } = await rollOut(0, { routingBroken: true });
    expect(rollout.state).to.equal(RolloutState.ROLLED_BACK);
    const last = rollout.decisions.at(-1)!;
    expect(last.passed).to.equal(false);
    expect(last.canaryCalls).to.equal(0n);
    expect(last.reason).to.match(/^canary got 0 of \d+ calls where its weight of \d+% gives about \d+: its weight does not reach it/);
    expect(weights.at(-1)).to.equal(0);
    expect(failedAfter).to.equal(0);
  });

  it("rolls back a canary failing as often as stable, because it burns the target's SLO fast, saying which", async () => {
    const getItem: Slo = {
      name: "get-item-availability",
      description: "Item pages load without a server error.",
      objective: 99.9,
      sli: { kind: "availability", subject: { method: "meshwork.inventory.v1.InventoryService/GetItem" } },
    };
    // Both versions fail every fifth call, and the comparison may not stop
    // the canary whatever a busy machine's window gives it (an allowance of
    // 100 points, rates judged from one call, so no "failed N of only M"
    // either): only the SLO (20% against a 0.1% budget: 200x) can.
    const { rollout, weights, failedAfter } = await rollOut(0.2, {
      stableFailShare: 0.2,
      steps: [25, 50, 100],
      thresholds: { ...defaultThresholds, minCalls: 1, maxErrorRateIncrease: 1 },
      slos: [getItem],
    });
    expect(rollout.state).to.equal(RolloutState.ROLLED_BACK);
    expect(rollout.decisions).to.have.length(1);
    const decision = rollout.decisions[0]!;
    expect(decision.passed).to.equal(false);
    expect(decision.reason).to.match(/^fast-burning SLO get-item-availability: burn rate \d+\.\d over the window \(limit 14\.4\); \d+ of \d+ canary calls server errors, objective 99\.9%$/);
    expect(decision.stableErrorRate).to.be.greaterThan(0);
    expect(weights).to.deep.equal([25, 0]);
    // The stable version still fails its fifth calls: only the canary is gone.
    expect(failedAfter).to.be.within(35, 45);
  });
});
