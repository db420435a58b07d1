// Progressive delivery with real processes: two versions of orders behind
// the gateway (stable, and a canary that shares its database), routing rules
// in a file every process watches, `scripts/canary.ts` judging each step from
// the gateway's metrics, and a pricing rule rolled out behind a feature flag.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fromJsonString } from "@bufbuild/protobuf";
import { expect } from "chai";
import { FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { RolloutState, RouteRulesSchema } from "../../gen/meshwork/routing/v1/routing_pb.js";
import { DevTokens, httpRequest, mapBounded } from "../support/gateway-http.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { eventually } from "../support/eventually.js";
import { TestClients } from "../support/test-identity.js";

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

interface PlacedOrder {
  readonly customer: string;
  readonly card: string;
  readonly orderId: string;
}

describe("progressive delivery: canary routing, analysis and rollback, feature flags (real processes)", function () {
  this.timeout(240_000);
  let dataDir: string;
  let routesFile: string;
  let flagsFile: string;
  let tokens: DevTokens;
  const processes: ServiceProcess[] = [];
  let inventory: ServiceProcess;
  let payments: ServiceProcess;
  let stable: ServiceProcess;
  let canary: ServiceProcess;
  let gateway: ServiceProcess;
  // FaultService is an operator's to call: TestClients calls it with a test operator certificate.
  const clients = new TestClients();

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-delivery-"));
    routesFile = path.join(dataDir, "routes.json");
    flagsFile = path.join(dataDir, "flags.json");
    writeFileSync(routesFile, "{}");
    writeFlags(10);
    const env = { DATA_DIR: dataDir, MESH_ROUTES_FILE: routesFile };
    [inventory, payments] = await Promise.all([startService("inventory", env), startService("payments", env)]);
    const ordersEnv = { ...env, INVENTORY_URL: inventory.url, PAYMENTS_URL: payments.url, FEATURE_FLAGS_FILE: flagsFile };
    // Faults armed with no rules: FaultService lets a test make the stable release fail too.
    stable = await startService("orders", { ...ordersEnv, MESH_FAULTS: "{}" });
    // The canary: the same code and database, its own version label, and a
    // bad release rehearsed with fault injection (20% of PlaceOrder fail).
    canary = await startService("orders", {
      ...ordersEnv,
      SERVICE_VERSION: "canary",
      MESH_FAULTS: JSON.stringify({
        faults: [{ service: "meshwork.orders.v1.OrderService", method: "PlaceOrder", abort: { grpc_status: 14, percentage: { numerator: 20 } } }],
      }),
    });
    gateway = await startService("gateway", {
      ...env,
      INVENTORY_URL: inventory.url,
      ORDERS_URL: `stable=${stable.url};canary=${canary.url}`,
      NOTIFICATIONS_URL: "https://127.0.0.1:9",
      RATE_LIMIT_PER_SECOND: "10000",
      RATE_LIMIT_BURST: "10000",
    });
    processes.push(inventory, payments, stable, canary, gateway);
    tokens = new DevTokens(dataDir);
  });
  after(async () => {
    clients.close();
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  function writeFlags(percent: number): void {
    const flags = {
      flags: {
        "bulk-pricing": {
          state: "ENABLED",
          variants: { on: true, off: false },
          defaultVariant: "off",
          targeting: { fractional: [["on", percent], ["off", 100 - percent]] },
        },
      },
    };
    writeFileSync(`${flagsFile}.tmp`, JSON.stringify(flags));
    renameSync(`${flagsFile}.tmp`, flagsFile);
  }

  async function placeOrder(customer: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
    const token = await tokens.sign(customer);
    return httpRequest(gateway.url, {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  }

  async function getOrder(customer: string, orderId: string): Promise<{ state?: string; cancelReason?: string; cancelDetail?: string }> {
    const res = await httpRequest(gateway.url, {
      method: "GET",
      path: `/v1/orders/${orderId}`,
      headers: { authorization: `Bearer ${await tokens.sign(customer)}` },
    });
    expect(res.status, res.text).to.equal(200);
    return (JSON.parse(res.text) as { order: { state?: string; cancelReason?: string; cancelDetail?: string } }).order;
  }

  describe("a pricing rule behind a feature flag", () => {
    /** Whether each customer's order of 3 mugs got bulk pricing (declined cards: priced, then cancelled, stock back). */
    async function bulkPriced(customers: readonly string[], round: string): Promise<Map<string, boolean>> {
      const priced = new Map<string, boolean>();
      await mapBounded(customers, 8, async (customer) => {
        const res = await placeOrder(customer, { requestId: `flag-${round}-${customer}`, lines: [{ sku: "MUG-001", quantity: 3 }], cardToken: "tok_declined" });
        expect(res.status, res.text).to.equal(200);
        const { order } = JSON.parse(res.text) as { order: { totalMinor: string; state: string } };
        expect(order.state).to.equal("ORDER_STATE_CANCELLED");
        // 3 x 1400 at list price, 3 x 1260 with bulk pricing (10% off).
        expect(order.totalMinor).to.be.oneOf(["4200", "3780"]);
        priced.set(customer, order.totalMinor === "3780");
      });
      return priced;
    }

    it("applies to about 10% of customers, sticks per customer, and a flag file change takes effect without restart", async () => {
      const customers = Array.from({ length: 300 }, (_, i) => `flag-customer-${i}`);
      const first = await bulkPriced(customers, "a");
      const on = [...first.values()].filter(Boolean).length;
      // Binomial(300, 0.1): mean 30, standard deviation 5.2; five deviations either side.
      expect(on).to.be.within(4, 56);
      const again = await bulkPriced(customers.slice(0, 100), "b");
      for (const [customer, discounted] of again) {
        expect(discounted, customer).to.equal(first.get(customer));
      }
      writeFlags(100);
      // flagd's file provider polls every 5 s.
      const deadline = Date.now() + 30_000;
      let everyone = false;
      for (let round = 0; !everyone && Date.now() < deadline; round++) {
        everyone = [...(await bulkPriced(customers.slice(0, 20), `c${round}`)).values()].every(Boolean);
      }
      expect(everyone, "every customer bulk-priced after the flag file went to 100%").to.equal(true);
      expect(stable.logs.some((l) => l.msg === "feature flags loaded")).to.equal(true);
    });
  });

  describe("a canary of orders", () => {
    const placed: PlacedOrder[] = [];
    let failedCalls = 0;

    before(async () => {
      // Enough T-shirts that stock never decides an order here: the card does.
      const res = await httpRequest(gateway.url, {
        method: "POST",
        path: "/v1/inventory/items/TEE-001:adjust",
        headers: { authorization: `Bearer ${await tokens.sign("operator", ["meshwork:admin"])}`, "content-type": "application/json" },
        body: JSON.stringify({ adjustmentId: "canary-test-stock", delta: 100000, reason: "canary test traffic" }),
      });
      expect(res.status, res.text).to.equal(200);
    });

    /** Orders from 200 customers, as fast as they answer, until `until` resolves; half the cards decline. */
    async function traffic<T>(until: Promise<T>): Promise<T> {
      let running = true;
      let n = 0;
      const load = Promise.all(
        Array.from({ length: 12 }, async () => {
          while (running) {
            const i = n++;
            const customer = `canary-customer-${i % 200}`;
            const card = i % 2 === 0 ? "tok_visa" : "tok_declined";
            const res = await placeOrder(customer, { requestId: `canary-${i}`, lines: [{ sku: "TEE-001", quantity: 1 }], cardToken: card });
            if (res.status === 200) {
              placed.push({ customer, card, orderId: (JSON.parse(res.text) as { order: { orderId: string } }).order.orderId });
            } else {
              failedCalls++;
            }
          }
        }),
      );
      try {
        return await until;
      } finally {
        running = false;
        await load;
      }
    }

    async function canaryRun(overrides: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
      const admin = await tokens.sign("operator", ["meshwork:admin"]);
      const flags: Record<string, string> = {
        "--service": "orders",
        "--version": "canary",
        "--routes": routesFile,
        "--metrics": `${gateway.url}/metrics`,
        "--token": admin,
        // Short windows, each step waiting (up to 20 s) for 10 canary calls: at
        // 1% of a busy test machine's traffic the canary sees few.
        "--window-s": "1",
        "--max-windows": "20",
        "--settle-ms": "1200",
        "--min-calls": "10",
        ...overrides,
      };
      const args = ["--import", "tsx", path.join(root, "scripts/canary.ts"), ...Object.entries(flags).flat()];
      try {
        const { stdout } = await run(process.execPath, args, { cwd: root, env: { ...process.env, LOG_LEVEL: "warn" } });
        return { code: 0, stdout };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: `${e.stdout}${e.stderr}` };
      }
    }

    async function gatewayMetrics(): Promise<string> {
      const res = await httpRequest(gateway.url, { method: "GET", path: "/metrics", headers: { authorization: `Bearer ${await tokens.sign("operator", ["meshwork:admin"])}` } });
      return res.text;
    }

    function rollout() {
      return fromJsonString(RouteRulesSchema, readFileSync(routesFile, "utf8")).targets.orders?.rollout;
    }

    it("rolls back a canary failing 20% of PlaceOrder within two steps, and every order that reached it ends as its card says", async () => {
      const result = await traffic(canaryRun());
      expect(result.code, result.stdout).to.equal(1);
      expect(result.stdout).to.match(/orders canary: ROLLED BACK \(canary (error rate|failed)/);
      const story = rollout();
      expect(story?.state).to.equal(RolloutState.ROLLED_BACK);
      expect(story?.weight).to.equal(0);
      expect(story?.decisions.length, JSON.stringify(story?.decisions.map((d) => [d.weight, d.reason]))).to.be.within(1, 2);
      expect(story?.decisions.at(-1)?.passed).to.equal(false);
      // The gateway reloads the routes file within its poll: its metrics then tell the story.
      const metrics = await eventually(
        "the gateway's metrics show the rollback",
        () => gatewayMetrics(),
        (text) => /meshwork_rollout_state\{target="orders",canary="canary",state="rolled_back"\} 1/.test(text),
      );
      expect(metrics).to.match(/meshwork_rollout_steps\{target="orders",canary="canary",result="failed"\} 1/);
      // Calls did reach the canary (its faults are what rolled it back).
      const canaryCalls = canary.logs.filter((l) => l.rpc === "meshwork.orders.v1.OrderService/PlaceOrder").length;
      expect(canaryCalls, "PlaceOrder calls the canary saw").to.be.greaterThan(0);
      expect(placed.length).to.be.greaterThan(20);
      // No lost order: each answered one ended as its card determines.
      await mapBounded(placed, 8, async ({ customer, card, orderId }) => {
        const order = await getOrder(customer, orderId);
        expect(order.state, `${orderId} (${card}): ${order.cancelReason ?? ""} ${order.cancelDetail ?? ""}`).to.equal(card === "tok_visa" ? "ORDER_STATE_CONFIRMED" : "ORDER_STATE_CANCELLED");
      });
      expect(failedCalls, "calls failed through to the customer").to.be.lessThan(placed.length);
    });

    it("rolls back a canary failing no more often than stable because it burns orders' PlaceOrder SLO fast, counted and on /mesh with the reason", async () => {
      // The stable release fails 20% of PlaceOrder too, and the comparison
      // may not stop the canary whatever each window's few calls give (an
      // allowance of 100 points; rates judged from one call, so no "failed N
      // of only M" either): only the canary's own burn of
      // place-order-availability (services/orders/service.yaml; 20% of calls
      // against a 0.1% budget, about 200x the sustainable rate, over the 14.4x
      // fast burn) can. From 25%, over 3 s windows.
      const stableFaults = clients.client(FaultService, stable.url);
      await stableFaults.setFaults({
        config: {
          faults: [{ service: "meshwork.orders.v1.OrderService", method: "PlaceOrder", abort: { errorType: { case: "grpcStatus", value: 14 }, percentage: { numerator: 20 } } }],
        },
      });
      writeFileSync(routesFile, "{}");
      try {
        const result = await traffic(canaryRun({ "--steps": "25,50,100", "--window-s": "3", "--min-calls": "1", "--max-error-rate-increase": "1" }));
        expect(result.code, result.stdout).to.equal(1);
        const sloReason = /^fast-burning SLO place-order-availability: burn rate \d+\.\d over the window \(limit 14\.4\); \d+ of \d+ canary calls server errors, objective 99\.9%$/;
        expect(result.stdout, result.stdout).to.match(/orders canary: ROLLED BACK \(fast-burning SLO place-order-availability: burn rate /);
        const story = rollout();
        expect(story?.state).to.equal(RolloutState.ROLLED_BACK);
        expect(story?.weight).to.equal(0);
        const last = story?.decisions.at(-1);
        expect(last?.passed).to.equal(false);
        expect(last?.reason).to.match(sloReason);
        // Counted like any failed step, and the reason on /mesh like any rollback's.
        type Rollouts = { target: string; rollout?: { state: string; decisions: { passed: boolean; reason: string }[] } }[];
        const rollouts = await eventually(
          "/mesh shows the SLO rollback and its reason",
          async () => {
            const page = await httpRequest(gateway.url, { method: "GET", path: "/mesh/status.json", headers: { authorization: `Bearer ${await tokens.sign("operator", ["meshwork:admin"])}` } });
            return (page.json as { rollouts?: Rollouts } | undefined)?.rollouts ?? [];
          },
          (found: Rollouts) => sloReason.test(found[0]?.rollout?.decisions.at(-1)?.reason ?? ""),
        );
        expect(rollouts[0]?.rollout?.state).to.equal("rolled-back");
        const metrics = await gatewayMetrics();
        expect(metrics).to.match(/meshwork_rollout_state\{target="orders",canary="canary",state="rolled_back"\} 1/);
        expect(metrics).to.match(/meshwork_rollout_steps\{target="orders",canary="canary",result="failed"\} 1/);
      } finally {
        await stableFaults.setFaults({ config: {} });
      }
    });

    it("promotes a healthy canary to 100%", async () => {
      // The release fixed: the canary's faults cleared through its FaultService.
      await clients.client(FaultService, canary.url).setFaults({ config: {} });
      writeFileSync(routesFile, "{}");
      const result = await traffic(canaryRun());
      expect(result.code, result.stdout).to.equal(0);
      expect(result.stdout).to.match(/orders canary: PROMOTED/);
      const story = rollout();
      expect(story?.state).to.equal(RolloutState.PROMOTED);
      expect(story?.decisions.map((d) => d.weight)).to.deep.equal([1, 5, 25, 50, 100]);
      const rules = fromJsonString(RouteRulesSchema, readFileSync(routesFile, "utf8"));
      expect(rules.targets.orders?.allMethods?.weights).to.deep.equal({ stable: 0, canary: 100 });
      // Every call now reaches the canary: the gateway's metrics say so once it reloaded the file.
      const metrics = await eventually(
        "the gateway's metrics show the promotion",
        () => gatewayMetrics(),
        (text) => /meshwork_rollout_state\{target="orders",canary="canary",state="promoted"\} 1/.test(text),
      );
      expect(metrics).to.match(/meshwork_route_weight\{target="orders",method="\*",version="canary"\} 100/);
      expect(metrics).to.match(/meshwork_rollout_steps\{target="orders",canary="canary",result="passed"\} 5/);
      // The gateway's /mesh page shows the weights and the rollout's story (from its next snapshot).
      type Rollouts = { target: string; weights: unknown; rollout?: { state: string; decisions: unknown[] } }[];
      const rollouts = await eventually(
        "/mesh shows the promoted rollout",
        async () => {
          const page = await httpRequest(gateway.url, { method: "GET", path: "/mesh/status.json", headers: { authorization: `Bearer ${await tokens.sign("operator", ["meshwork:admin"])}` } });
          return (page.json as { rollouts?: Rollouts } | undefined)?.rollouts ?? [];
        },
        (found: Rollouts) => found[0]?.rollout?.state === "promoted",
      );
      expect(rollouts).to.have.length(1);
      expect(rollouts[0]).to.deep.include({ target: "orders", weights: [{ version: "stable", weight: 0 }, { version: "canary", weight: 100 }] });
      expect(rollouts[0]?.rollout?.decisions).to.have.length(5);
    });
  });
});
