// The mesh on separate hosts: the Meshwork image (make image) as containers
// on a podman network of their own (test/support/podman-hosts.ts), each
// process on its own host with its own address in 198.18.0.0/15 and names
// resolved by DNS as a headless Service resolves them: two gateways behind
// the test's round-robin balancer, two inventory, two payments, two orders
// and two notifications replicas, an orders canary, a PostgreSQL host
// (test/support/podman-postgres.ts) with one database per service that all
// replicas of the service share, and a three-node NATS JetStream cluster with
// every stream on three nodes. mTLS everywhere the mesh talks: between the
// mesh's processes (identities from a CA made for the run), from them to NATS
// (their workload certificates are their NATS credentials, natsServerConfig
// as `make nats-config` writes it) and between the NATS nodes (routes). With
// orders flowing through the gateways: a host killed, one payments host and
// then every payments host partitioned (nftables; breakers open), 100 ms on
// the payments hosts, a rolling restart of every process, a NATS node
// killed, a canary of orders split by weight and rolled back; then the
// invariants, read from the databases. Every fault is bounded in count and
// time and every address is a container's on this machine.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { DevTokens, httpRequest, type RawResponse } from "../support/gateway-http.js";
import { checkPodman, PodmanHosts, type HostSpec } from "../support/podman-hosts.js";
import { startPodmanPostgres, type PodmanPostgres } from "../support/podman-postgres.js";
import { natsServerConfig } from "../../mesh/events/nats-server-config.js";
import { credentialFilesIn } from "../../mesh/identity/credential-files.js";
import { writeCredentialFiles, workloadId } from "../../mesh/index.js";
import { meshworkNatsPlan } from "../../scripts/support/nats-plan.js";
import { testCa, testTls, type TestTls } from "../support/test-identity.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const uid = 65532;
const ports = { gateway: 8080, inventory: 50051, payments: 50052, orders: 50053, notifications: 50054 } as const;

interface Placed {
  readonly requestId: string;
  readonly card: string;
  /** The customer whose token placed it (one customer unless a scenario needs many). */
  readonly customer: string;
  readonly response: RawResponse;
}

describe("the mesh on separate hosts (podman, the Meshwork image)", function () {
  this.timeout(600_000);
  const tag = `localhost/meshwork:multihost-${process.pid}`;
  let net: PodmanHosts | undefined;
  let postgres: PodmanPostgres | undefined;
  let data: string;
  let tokens: DevTokens;
  let token: string;
  /**
   * The load balancer in front of the gateways, as a cloud load balancer or
   * a Service's kube-proxy is: requests go round-robin to the gateway hosts
   * in it; a gateway leaves it when it is told to terminate (before SIGTERM,
   * as an endpoint leaves a Service), and its requests in flight finish in
   * its drain.
   */
  const balancer: string[] = [];
  let balanced = 0;
  const gatewayUrl = (): string => balancer[balanced++ % balancer.length]!;
  const balancerAdd = (name: string): void => void balancer.push(`http://${net!.hosts.get(name)!.ip}:${ports.gateway}`);
  const balancerRemove = (name: string): void => void balancer.splice(balancer.indexOf(`http://${net!.hosts.get(name)!.ip}:${ports.gateway}`), 1);
  const tlsDirs = new Map<string, string>();
  /** FaultService answers operators only. */
  let operator: TestTls;
  let seeded: Map<string, number>;
  const placed: Placed[] = [];
  let counter = 0;

  const dir = (name: string): string => {
    const d = path.join(data, name);
    mkdirSync(d, { recursive: true });
    chownSync(d, uid, uid);
    return d;
  };
  // tls://: each process presents its workload certificate, which the servers map to its subject permissions.
  const natsUrl = "tls://nats-1:4222,tls://nats-2:4222,tls://nats-3:4222";
  const natsConfigs = new Map<number, string>();
  const common = { LOG_LEVEL: "warn", SHUTDOWN_DELAY_MS: "1000", NATS_URL: natsUrl, NATS_STREAM_REPLICAS: "3", BREAKER_RESET_MS: "2000" };
  // Breakers judge a window of at least 4 calls (default 10): a test's few orders a second open them.
  const ordersEnv = { INVENTORY_URL: "dns:inventory:50051", PAYMENTS_URL: "dns:payments:50052", BREAKER_VOLUME_THRESHOLD: "4" };
  const specs = (): Record<string, HostSpec> => ({
    "nats-1": natsSpec(1), "nats-2": natsSpec(2), "nats-3": natsSpec(3),
    // FaultService armed with no rule: the latency scenario sets a delay at run time.
    "payments-1": service("payments", 1, 15, { MESH_FAULTS: "{}" }), "payments-2": service("payments", 2, 16, { MESH_FAULTS: "{}" }),
    "inventory-1": service("inventory", 1, 11), "inventory-2": service("inventory", 2, 12),
    "orders-1": service("orders", 1, 13, ordersEnv), "orders-2": service("orders", 2, 14, ordersEnv),
    // A canary release of orders on a host of its own (its own DNS name, the
    // same database), its version label from its callers' configuration
    // (ORDERS_URL stable=...;canary=...); weight 0 until a routing rule says more.
    "orders-canary": {
      ...service("orders", 3, 19, { ...ordersEnv, SERVICE_VERSION: "canary", MESH_FAULTS: "{}" }),
      name: "orders-canary", aliases: ["orders-canary"],
    },
    // Two replicas on the orders stream's one durable consumer: each event goes to one of them.
    "notifications-1": service("notifications", 1, 17, { ORDERS_URL: "https://orders:50053" }),
    "notifications-2": service("notifications", 2, 18, { ORDERS_URL: "https://orders:50053" }),
    "gateway-1": gatewaySpec(1, 10), "gateway-2": gatewaySpec(2, 9),
  });
  function gatewaySpec(replica: number, octet: number): HostSpec {
    return {
      name: `gateway-${replica}`, aliases: ["gateway"], octet, args: ["gateway/main.js"],
      env: {
        ...common, PORT: "8080", INVENTORY_URL: "dns:inventory:50051", ORDERS_URL: "stable=dns:orders:50053;canary=dns:orders-canary:50053",
        NOTIFICATIONS_URL: "dns:notifications:50054", RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000", MESH_TLS_DIR: "/tls",
        MESH_ROUTES_FILE: "/routes/routes.json",
      },
      // The token key is the gateways' shared secret (here: their shared data
      // folder; gateway-1 makes it). The routes file is in a mounted folder (a
      // ConfigMap's), so a new file renamed into place reaches the container.
      volumes: { "/data": dir("gateway"), "/tls": tlsDirs.get("gateway")!, "/routes": dir("routes") },
    };
  }
  function service(name: keyof typeof ports, replica: number, octet: number, env: Record<string, string> = {}): HostSpec {
    return {
      name: `${name}-${replica}`, aliases: [name], octet, args: [`services/${name}/main.js`],
      env: { ...common, PORT: String(ports[name]), MESH_TLS_DIR: "/tls", DATABASE_URL_FILE: "/secrets/database-url", ...env },
      // Both replicas of a service share its database (its own, on the
      // PostgreSQL host; the URL in a file, as a mounted Secret) and its
      // identity (mTLS, from the run's test CA); each has a disk of its own.
      volumes: { "/data": dir(`${name}-${replica}`), "/tls": tlsDirs.get(name)! },
      files: { "/secrets/database-url": postgres!.urlFile(name) },
    };
  }
  // Each node as `make nats-config` configures one (natsServerConfig: TLS
  // required, the client's certificate its credential, subject permissions),
  // with routes over mTLS between the nodes (the nats identity only).
  function natsSpec(n: number): HostSpec {
    return {
      name: `nats-${n}`, octet: 20 + n, entrypoint: "/usr/local/bin/nats-server",
      args: ["-c", "/etc/nats/nats-server.conf", "-m", "8222"],
      files: { "/usr/local/bin/nats-server": "/usr/sbin/nats-server", "/etc/nats/nats-server.conf": natsConfigs.get(n)! },
      volumes: { "/data": dir(`nats-${n}`), "/tls": tlsDirs.get(`nats-${n}`)! },
    };
  }
  const healthPort = (name: string): number =>
    name.startsWith("nats") ? 8222 : ports[name.split("-")[0] as keyof typeof ports];
  async function startHost(spec: HostSpec): Promise<void> {
    await net!.start(spec);
    await net!.waitHealthy(spec.name, healthPort(spec.name));
  }

  const customerTokens = new Map<string, Promise<string>>();
  const tokenOf = (customer: string): Promise<string> => {
    let t = customerTokens.get(customer);
    if (t === undefined) customerTokens.set(customer, (t = tokens.sign(customer)));
    return t;
  };
  async function placeOrder(card: string, headers: Record<string, string> = {}, customer = "alice"): Promise<Placed> {
    const requestId = `mh-${process.pid}-${++counter}`;
    const response = await httpRequest(gatewayUrl(), {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${await tokenOf(customer)}`, "content-type": "application/json", ...headers },
      body: JSON.stringify({ requestId, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: card }),
      timeoutMs: 60_000,
    });
    const result = { requestId, card, customer, response };
    placed.push(result);
    return result;
  }
  /** The same request again, as a client retries it. */
  async function placeOrderAgain(first: Placed): Promise<Placed> {
    const response = await httpRequest(gatewayUrl(), {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${await tokenOf(first.customer)}`, "content-type": "application/json" },
      body: JSON.stringify({ requestId: first.requestId, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: first.card }),
      timeoutMs: 60_000,
    });
    const result = { requestId: first.requestId, card: first.card, customer: first.customer, response };
    placed.push(result);
    return result;
  }
  const stateOf = (p: Placed): string | undefined => (p.response.json as { order?: { state?: string } } | undefined)?.order?.state;
  const orderIdOf = (p: Placed): string | undefined => (p.response.json as { order?: { orderId?: string } } | undefined)?.order?.orderId;
  const expected = (card: string): string => (card === "tok_visa" ? "ORDER_STATE_CONFIRMED" : "ORDER_STATE_CANCELLED");

  /** Places orders one after another while `during` runs, and a few after it; returns them. */
  async function ordersDuring(during: () => Promise<void>, cards: readonly string[] = ["tok_visa"]): Promise<Placed[]> {
    const mine: Placed[] = [];
    let done = false;
    const fault = during().finally(() => (done = true));
    const loop = (async () => {
      for (let i = 0; (!done || i < 4) && i < 200; i++) mine.push(await placeOrder(cards[i % cards.length]!));
    })();
    await fault;
    await loop;
    return mine;
  }

  /**
   * Places tok_visa orders until four in a row answer CONFIRMED: the callers
   * have learnt what the fault changed. Bounded: 60 orders.
   */
  async function untilConfirming(): Promise<number> {
    let inRow = 0;
    for (let i = 1; i <= 60; i++) {
      const p = await placeOrder("tok_visa");
      inRow = p.response.status === 200 && stateOf(p) === "ORDER_STATE_CONFIRMED" ? inRow + 1 : 0;
      if (inRow === 4) return i;
    }
    throw new Error("orders did not confirm four in a row within 60 orders");
  }

  /**
   * A series summed over every live orders host's /metrics (served in
   * cleartext beside probes, as Prometheus scrapes it), e.g.
   * ordersMetric("meshwork_endpoint_ejections_total", 'target="payments"').
   */
  async function ordersMetric(name: string, labels: string | readonly string[]): Promise<number> {
    const wanted = typeof labels === "string" ? [labels] : labels;
    let sum = 0;
    for (const [host, { ip }] of net!.hosts) {
      if (!host.startsWith("orders-")) continue;
      const text = await (await fetch(`http://${ip}:${ports.orders}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      for (const line of text.split("\n")) {
        if (line.startsWith(`${name}{`) && wanted.every((l) => line.includes(l))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
    return sum;
  }

  /** The gateways' routing rules, written whole and renamed into place as scripts/canary.ts writes them. */
  function writeRoutes(rules: object): void {
    const file = path.join(dir("routes"), "routes.json");
    writeFileSync(`${file}.tmp`, JSON.stringify(rules));
    renameSync(`${file}.tmp`, file);
  }
  /** Every live gateway's /metrics (an operator's token). */
  async function gatewayMetrics(): Promise<string[]> {
    const admin = await tokens.sign("ops", ["meshwork:admin"]);
    return Promise.all(balancer.map(async (url) => (await httpRequest(url, { method: "GET", path: "/metrics", headers: { authorization: `Bearer ${admin}` } })).text));
  }
  /** PlaceOrder calls a host answered (any code), from its /metrics. */
  async function placeOrderCalls(host: string): Promise<number> {
    const text = await (await fetch(`http://${net!.hosts.get(host)!.ip}:${ports.orders}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    return text.split("\n").filter((l) => l.startsWith("meshwork_server_requests_total{") && l.includes('method="PlaceOrder"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  }
  const stableOrdersHosts = (): string[] => [...net!.hosts.keys()].filter((h) => h.startsWith("orders-") && h !== "orders-canary");

  /**
   * The orders of these request ids once none is PENDING, read from orders'
   * database (bounded): request id -> state (CONFIRMED, CANCELLED).
   */
  async function settledByRequest(requestIds: readonly string[]): Promise<Map<string, string>> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const rows = await postgres!.query<{ request_id: string; state: string }>("orders", "SELECT request_id, state FROM orders WHERE request_id = ANY($1)", [requestIds]);
      if (rows.every((r) => r.state !== "PENDING")) return new Map(rows.map((r) => [r.request_id, r.state]));
      if (Date.now() > deadline) throw new Error(`orders still PENDING after 90 s: ${rows.filter((r) => r.state === "PENDING").map((r) => r.request_id).join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Reads an order through the gateway until it is no longer PENDING (bounded). */
  async function settled(orderId: string): Promise<string> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await httpRequest(gatewayUrl(), { method: "GET", path: `/v1/orders/${orderId}`, headers: { authorization: `Bearer ${token}` } });
      const state = (r.json as { order?: { state?: string } } | undefined)?.order?.state;
      if (r.status === 200 && state !== "ORDER_STATE_PENDING") return state!;
      if (Date.now() > deadline) throw new Error(`order ${orderId} still ${state ?? r.text} after 90 s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  before(async function () {
    await checkPodman();
    data = mkdtempSync(path.join(os.tmpdir(), "meshwork-multihost-"));
    chownSync(data, uid, uid);
    // Each process's identity, readable by the image's user (the key is 0600).
    const ca = await testCa();
    for (const name of Object.keys(ports)) {
      const tlsDir = path.join(data, `tls-${name}`);
      writeCredentialFiles(tlsDir, await ca.issue(workloadId(ca.trustDomain, "service", name), { ttlMs: 24 * 3600_000 }));
      for (const entry of [".", ...readdirSync(tlsDir)]) {
        chownSync(path.join(tlsDir, entry), uid, uid);
      }
      tlsDirs.set(name, tlsDir);
    }
    // A NATS node's certificate: the nats identity, and its host name for the other nodes' routes to verify.
    for (const n of [1, 2, 3]) {
      const tlsDir = path.join(data, `tls-nats-${n}`);
      writeCredentialFiles(tlsDir, await ca.issue(workloadId(ca.trustDomain, "service", "nats"), { ttlMs: 24 * 3600_000, dnsNames: [`nats-${n}`] }));
      for (const entry of [".", ...readdirSync(tlsDir)]) chownSync(path.join(tlsDir, entry), uid, uid);
      tlsDirs.set(`nats-${n}`, tlsDir);
      const config = path.join(data, `nats-${n}.conf`);
      writeFileSync(config, natsServerConfig({
        host: "0.0.0.0", port: 4222, storeDir: "/data", ...credentialFilesIn("/tls"), trustDomain: ca.trustDomain, plan: meshworkNatsPlan,
        serverName: `nats-${n}`,
        cluster: { name: "meshwork", port: 6222, advertise: `nats-${n}:6222`, routes: [1, 2, 3].map((m) => `nats-route://nats-${m}:6222`) },
      }));
      natsConfigs.set(n, config);
    }
    operator = await testTls("test-operator", "operator");
    // The image, as make image builds it (the base layer comes from the cache).
    await run(path.join(root, "deploy/image/build.sh"), [], { cwd: root, env: { ...process.env, IMAGE: tag }, maxBuffer: 16 * 1024 * 1024 });
    net = await PodmanHosts.create(`meshwork-mh-${process.pid}`, tag);
    // Every host's log, to read after a run (each run replaces the last).
    const logDir = path.join(root, "test-output", "multihost");
    rmSync(logDir, { recursive: true, force: true });
    net.logDir = logDir;
    // PostgreSQL's certificate: a mesh identity, and the host name its clients verify (sslmode=verify-full).
    const postgresTls = writeCredentialFiles(path.join(data, "tls-postgres"), await ca.issue(workloadId(ca.trustDomain, "service", "postgres"), { ttlMs: 24 * 3600_000, dnsNames: ["postgres"] }));
    postgres = await startPodmanPostgres(net, {
      name: "postgres", octet: 30, databases: ["inventory", "payments", "orders", "notifications"], owner: uid, serverTls: postgresTls, clientTlsDir: "/tls",
    });
    const all = specs();
    await Promise.all(["nats-1", "nats-2", "nats-3", "payments-1", "payments-2", "inventory-1", "inventory-2"].map((n) => startHost(all[n]!)));
    writeRoutes({});
    await Promise.all(["orders-1", "orders-2", "orders-canary"].map((n) => startHost(all[n]!)));
    await Promise.all(["notifications-1", "gateway-1"].map((n) => startHost(all[n]!)));
    await Promise.all(["notifications-2", "gateway-2"].map((n) => startHost(all[n]!)));
    balancerAdd("gateway-1");
    balancerAdd("gateway-2");
    tokens = new DevTokens(path.join(data, "gateway"));
    token = await tokens.sign("alice");
    // Stock for every order of the run; conservation is checked from here.
    const adjusted = await httpRequest(gatewayUrl(), {
      method: "POST",
      path: "/v1/inventory/items/MUG-001:adjust",
      headers: { authorization: `Bearer ${await tokens.sign("ops", ["meshwork:admin"])}`, "content-type": "application/json" },
      body: JSON.stringify({ adjustmentId: `mh-${process.pid}`, delta: 5000, reason: "multi-host test" }),
    });
    expect(adjusted.status, adjusted.text).to.equal(200);
    seeded = await stockTotals();
  });

  after(async () => {
    await postgres?.stop();
    await net?.destroy();
    await run("podman", ["--runtime", "runc", "--cgroup-manager=cgroupfs", "rmi", "-f", tag]).catch(() => undefined);
    if (data !== undefined) rmSync(data, { recursive: true, force: true });
  });

  async function stockTotals(): Promise<Map<string, number>> {
    const rows = await postgres!.query<{ sku: string; total: number }>("inventory", "SELECT sku, available + reserved + sold AS total FROM items");
    return new Map(rows.map((r) => [r.sku, Number(r.total)]));
  }

  it("serves orders across hosts: names resolve to every replica, orders confirm or cancel as their cards say", async () => {
    const { stdout } = await net!.podman(["exec", net!.containerName("gateway-1"), "/usr/local/bin/node", "-e",
      "require('dns').promises.lookup('inventory',{all:true}).then(a=>console.log(a.map(x=>x.address).sort().join(',')))"]);
    expect(stdout.trim()).to.equal([net!.hosts.get("inventory-1")!.ip, net!.hosts.get("inventory-2")!.ip].sort().join(","));
    for (const card of ["tok_visa", "tok_declined", "tok_visa", "tok_visa"]) {
      const p = await placeOrder(card);
      expect(p.response.status, p.response.text).to.equal(200);
      expect(await settled(orderIdOf(p)!)).to.equal(expected(card));
    }
  });

  it("a host killed (SIGKILL, link removed): callers eject it, nothing is lost, orders keep confirming", async () => {
    const mine = await ordersDuring(async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await net!.kill("inventory-2");
      // Orders go on until the callers have learnt (bounded by ordersDuring's count).
      await new Promise((resolve) => setTimeout(resolve, 8_000));
    });
    // A client whose request failed places it again with the same request id
    // (PlaceOrder is idempotent by it): every order is there once, confirmed.
    const failedFirst = mine.filter((p) => p.response.status !== 200);
    for (const p of failedFirst) {
      const again = await placeOrderAgain(p);
      expect(again.response.status, again.response.text).to.equal(200);
    }
    // An order whose saga met the dead host mid-call may have compensated
    // (CANCELLED, stock released): it ends, it is never lost or left PENDING.
    const outcomes: string[] = [];
    for (const p of placed.slice(-mine.length)) {
      const id = orderIdOf(p);
      if (id !== undefined) outcomes.push(await settled(id));
    }
    expect(outcomes.every((o) => o === "ORDER_STATE_CONFIRMED" || o === "ORDER_STATE_CANCELLED")).to.equal(true);
    // Once the callers have ejected it, orders confirm.
    const learnt = await untilConfirming();
    console.log(`      host killed: ${mine.length} orders, ${failedFirst.length} answered an error first (retried with the same request id), ${outcomes.filter((o) => o === "ORDER_STATE_CANCELLED").length} compensated; confirming four in a row after ${learnt} more`);
    await net!.remove("inventory-2");
    await startHost(specs()["inventory-2"]!);
  });

  // One payments host of two cut off: orders' calls to it fail over to the
  // other inside their breaker (one breaker per target and method, outside
  // the retries: a logical call counts once), so the breakers stay closed and
  // every order ends as its card says.
  it("a host partitioned (nftables drops its traffic): sagas end as the cards determine after the heal", async () => {
    const mine = await ordersDuring(async () => {
      await net!.partition("payments-2");
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      await net!.heal("payments-2");
    }, ["tok_visa", "tok_declined"]);
    for (const p of mine) {
      const id = orderIdOf(p);
      if (id !== undefined) expect(await settled(id), p.requestId).to.equal(expected(p.card));
    }
    const learnt = await untilConfirming();
    console.log(`      partition: ${mine.length} orders, each ended as its card says; confirming four in a row after ${learnt} more`);
  });

  // Every payments host cut off: orders' breakers towards payments open (read
  // from orders' /metrics), so sagas stop waiting on a dead target and
  // compensate at once; a tok_visa order placed then ends CANCELLED, its
  // stock released and nothing captured (the invariants check both), never
  // PENDING; a declined card never confirms; after the heal the breakers
  // close (a half-open probe) and orders confirm again.
  it("every payments host partitioned: orders' breakers towards payments open, every order ends, and after the heal they close and orders confirm", async () => {
    const opened = () => ordersMetric("meshwork_breaker_transitions_total", ['target="payments"', 'to="open"']);
    const before = await opened();
    const mine: Placed[] = [];
    let open = false;
    await Promise.all(["payments-1", "payments-2"].map((n) => net!.partition(n)));
    try {
      let running = true;
      const load = Promise.all(Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; running && i < 40; i++) mine.push(await placeOrder(i % 2 === w % 2 ? "tok_visa" : "tok_declined"));
      }));
      const deadline = Date.now() + 20_000;
      while (!open && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        open = (await opened()) > before;
      }
      // A few orders meet the open breakers before the heal.
      if (open) await new Promise((resolve) => setTimeout(resolve, 1_000));
      running = false;
      await load;
    } finally {
      await Promise.all(["payments-1", "payments-2"].map((n) => net!.heal(n)));
    }
    expect(open, "orders' breakers towards payments opened").to.equal(true);
    // A request that failed at the gateway (its deadline ran out first) is placed again with its request id.
    for (const p of mine.filter((m) => m.response.status !== 200)) {
      const again = await placeOrderAgain(p);
      expect(again.response.status, again.response.text).to.equal(200);
    }
    const ids = [...new Set(mine.map((p) => p.requestId))];
    const states = await settledByRequest(ids);
    expect(states.size).to.equal(ids.length);
    const outcomes = new Map<string, number>();
    for (const [requestId, state] of states) {
      const card = mine.find((p) => p.requestId === requestId)!.card;
      if (card === "tok_declined") expect(state, requestId).to.equal("CANCELLED");
      outcomes.set(`${card} ${state}`, (outcomes.get(`${card} ${state}`) ?? 0) + 1);
    }
    const learnt = await untilConfirming();
    console.log(`      payments partitioned: breakers opened; ${mine.length} orders (${JSON.stringify(Object.fromEntries(outcomes))}); confirming four in a row after ${learnt} more`);
  });

  // This machine's kernel has no netem (CONFIG_NET_SCH_NETEM is not set), so
  // the 100 ms are the mesh's own fault filter on the payments hosts: every
  // call they serve waits 100 ms before its handler, inside the caller's deadline.
  it("100 ms on the payments hosts: orders confirm, and a deadline shorter than the path answers 504 deadline_exceeded", async () => {
    const setDelay = (name: string, millis: number) =>
      createClient(
        FaultService,
        createGrpcTransport({ baseUrl: `https://${net!.hosts.get(name)!.ip}:${ports.payments}`, nodeOptions: operator.nodeOptions }),
      ).setFaults({
        config: {
          faults: millis === 0 ? [] : [{
            service: "meshwork.payments.v1.PaymentService",
            delay: { delayType: { case: "fixedDelay", value: { seconds: 0n, nanos: millis * 1_000_000 } }, percentage: { numerator: 100 } },
          }],
        },
      });
    await Promise.all(["payments-1", "payments-2"].map((n) => setDelay(n, 100)));
    try {
      const ok = await placeOrder("tok_visa");
      expect(ok.response.status, ok.response.text).to.equal(200);
      expect(stateOf(ok)).to.equal("ORDER_STATE_CONFIRMED");
      // Authorize and capture take 100 ms each at least: 150 ms cannot hold the saga.
      const short = await placeOrder("tok_visa", { "x-request-timeout-ms": "150" });
      expect(short.response.status, short.response.text).to.equal(504);
      expect((short.response.json as { code?: string }).code).to.equal("deadline_exceeded");
    } finally {
      await Promise.all(["payments-1", "payments-2"].map((n) => setDelay(n, 0)));
    }
  });

  it("a rolling restart of every process, one replica at a time, gateways included: zero failed requests at the gateways", async () => {
    const mine = await ordersDuring(async () => {
      // As a Deployment's rolling update with maxSurge 1, maxUnavailable 0:
      // the new replica (a new address) serves before the old one is stopped.
      // Every Deployment rolls at once (as a rollout restart of them all), each one replica at a time.
      const deployments = ["inventory", "payments", "orders", "notifications", "gateway"].map((d) => [`${d}-1`, `${d}-2`]);
      await Promise.all(deployments.map(async (replicas) => {
        for (const name of replicas) {
          const replacement = `${name}-next`;
          const spec = specs()[name]!;
          await startHost({ ...spec, name: replacement, aliases: spec.aliases ?? [] });
          if (name.startsWith("gateway")) {
            balancerAdd(replacement);
            balancerRemove(name);
          }
          await net!.stop(name);
          await net!.remove(name);
        }
      }));
    });
    const failed = mine.filter((p) => p.response.status !== 200).map((p) => `${p.requestId}: ${p.response.status} ${p.response.text}`);
    expect(failed).to.deep.equal([]);
    // Each ends as its card says (one answered before its saga finished is resumed).
    for (const p of mine) expect(await settled(orderIdOf(p)!), p.requestId).to.equal("ORDER_STATE_CONFIRMED");
    console.log(`      rolling restart: ${mine.length} orders, 0 failed, ${mine.filter((p) => stateOf(p) !== "ORDER_STATE_CONFIRMED").length} answered before their saga ended`);
  });

  it("a NATS node killed: events continue, each delivered once", async () => {
    const mine = await ordersDuring(async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await net!.kill("nats-2");
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    });
    for (const p of mine) expect(p.response.status, p.response.text).to.equal(200);
    const ids = mine.map(orderIdOf).filter((id): id is string => id !== undefined);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const rows = (await postgres!.query<{ order_id: string; n: string }>("notifications", "SELECT order_id, COUNT(*) AS n FROM notifications WHERE order_id = ANY($1) GROUP BY order_id", [ids]))
        .map((r) => ({ order_id: r.order_id, n: Number(r.n) }));
      // OrderPlaced and OrderConfirmed: two notifications per order, never more.
      expect(rows.every((r) => r.n <= 2)).to.equal(true);
      if (rows.length === ids.length && rows.every((r) => r.n === 2)) break;
      if (Date.now() > deadline) throw new Error(`notifications after 60 s: ${JSON.stringify(rows)} of ${ids.length} orders`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });

  it("a canary of orders on its own host: traffic split by weight within bounds, rolled back to 0 on an injected failure, no order lost", async () => {
    const weightIs = async (canary: number): Promise<void> => {
      const deadline = Date.now() + 15_000;
      // The weight in force (no series: no rule, the stable version only).
      const weightOf = (metrics: string): number => {
        const line = metrics.split("\n").find((l) => l.startsWith('meshwork_route_weight{target="orders",method="*",version="canary"} '));
        return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
      };
      while (!(await gatewayMetrics()).every((m) => weightOf(m) === canary)) {
        if (Date.now() > deadline) throw new Error(`the gateways did not load canary weight ${canary} within 15 s`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    const mine: Placed[] = [];
    const concurrently = async (count: number, width: number): Promise<Placed[]> => {
      const out: Placed[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: width }, async () => {
        while (next < count) {
          // Many customers: scripts/canary.ts's weights stick per customer (x-customer-id).
          const n = next++;
          out.push(await placeOrder(n % 3 === 2 ? "tok_declined" : "tok_visa", {}, `canary-customer-${(mine.length + n) % 60}`));
        }
      }));
      mine.push(...out);
      return out;
    };
    const counts = async () => ({
      canary: await placeOrderCalls("orders-canary"),
      stable: (await Promise.all(stableOrdersHosts().map(placeOrderCalls))).reduce((a, b) => a + b, 0),
    });

    // 1. 25% to the canary, set in the gateways' routing rules: the split, counted by the orders hosts themselves.
    writeRoutes({ targets: { orders: { allMethods: { weights: { stable: 75, canary: 25 } } } } });
    await weightIs(25);
    const before = await counts();
    const split = await concurrently(80, 8);
    expect(split.filter((p) => p.response.status !== 200).map((p) => p.response.text)).to.deep.equal([]);
    const after = await counts();
    const canaryCalls = after.canary - before.canary;
    const total = canaryCalls + after.stable - before.stable;
    // Binomial(n, 0.25): five standard deviations either side.
    const sd = Math.sqrt(total * 0.25 * 0.75);
    console.log(`      canary split: ${canaryCalls} of ${total} PlaceOrder calls on the canary host at weight 25 (bounds ±${(5 * sd).toFixed(1)})`);
    expect(canaryCalls).to.be.within(total * 0.25 - 5 * sd, total * 0.25 + 5 * sd);

    // 2. A bad release: 20% of PlaceOrder on the canary host fail (FaultService
    // abort, unavailable), as issue 19's test has it. Back to stable only
    // first; then scripts/canary.ts steps the weight from 25%, judges each
    // step from both gateways' metrics, and rolls it back to 0.
    writeRoutes({});
    await weightIs(0);
    await createClient(FaultService, createGrpcTransport({ baseUrl: `https://${net!.hosts.get("orders-canary")!.ip}:${ports.orders}`, nodeOptions: operator.nodeOptions }))
      .setFaults({ config: { faults: [{ service: "meshwork.orders.v1.OrderService", method: "PlaceOrder", abort: { errorType: { case: "grpcStatus", value: 14 }, percentage: { numerator: 20 } } }] } });
    let running = true;
    const traffic = (async () => {
      while (running) await concurrently(8, 4);
    })();
    let canaryRun: { code: number; out: string };
    try {
      const args = ["--import", "tsx", path.join(root, "scripts/canary.ts"), "--service", "orders", "--version", "canary",
        "--routes", path.join(dir("routes"), "routes.json"), "--metrics", balancer.map((u) => `${u}/metrics`).join(","),
        "--token", await tokens.sign("ops", ["meshwork:admin"]), "--steps", "25,100", "--window-s", "1", "--max-windows", "10", "--settle-ms", "1200", "--min-calls", "5"];
      canaryRun = await run(process.execPath, args, { cwd: root, env: { ...process.env, LOG_LEVEL: "info" } })
        .then(({ stdout }) => ({ code: 0, out: stdout }), (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }));
    } finally {
      running = false;
      await traffic;
    }
    expect(canaryRun.code, canaryRun.out).to.equal(1);
    expect(canaryRun.out).to.match(/orders canary: ROLLED BACK/);
    const story = (JSON.parse(readFileSync(path.join(dir("routes"), "routes.json"), "utf8")) as { targets: { orders: { rollout: { weight?: number; decisions: unknown[] } } } }).targets.orders.rollout;
    expect(story.weight ?? 0).to.equal(0);
    expect(story.decisions.length, "rolled back within two steps").to.be.within(1, 2);
    await weightIs(0);
    // Rolled back: the canary host gets no more orders.
    const rolledBack = await counts();
    const later = await concurrently(16, 4);
    expect(later.filter((p) => p.response.status !== 200).map((p) => p.response.text)).to.deep.equal([]);
    expect((await counts()).canary).to.equal(rolledBack.canary);

    // No order lost: a request that failed (its tries all met the canary) is
    // placed again with the same request id; each ends once, as its card says.
    const failed = mine.filter((p) => p.response.status !== 200);
    for (const p of failed) {
      const again = await placeOrderAgain(p);
      expect(again.response.status, again.response.text).to.equal(200);
    }
    const requestIds = [...new Set(mine.map((p) => p.requestId))];
    const states = await settledByRequest(requestIds);
    expect(states.size).to.equal(requestIds.length);
    const wrong = mine.filter((p) => `ORDER_STATE_${states.get(p.requestId)}` !== expected(p.card)).map((p) => `${p.requestId} ${p.card} ${states.get(p.requestId)}`);
    expect(wrong).to.deep.equal([]);
    const steps = canaryRun.out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { weight?: number; reason?: string; msg?: string })
      .filter((l) => l.weight !== undefined).map((l) => `${l.weight}%: ${l.msg ?? ""} ${l.reason ?? ""}`.trim());
    console.log(`      canary rollback: ${steps.join("; ")}; ${mine.length - split.length} orders meanwhile, ${failed.length} failed at the gateway (placed again, same request id)`);
  });

  it("invariants from the databases: one authorization and at most one capture per order, stock conserved, every event's effect once", async () => {
    const ids = placed.map(orderIdOf).filter((id): id is string => id !== undefined);
    await settledByRequest([...new Set(placed.map((p) => p.requestId))]);
    const perOrder = await postgres!.query<{ order_id: string; n: string; captured: string }>("payments",
      "SELECT order_id, COUNT(*) AS n, COUNT(*) FILTER (WHERE state = 'CAPTURED') AS captured FROM payments GROUP BY order_id");
    expect(perOrder.filter((r) => Number(r.n) > 1 || Number(r.captured) > 1)).to.deep.equal([]);
    // Orders, from their database: each request once, none left PENDING, a
    // CONFIRMED order captured once, a CANCELLED one never captured.
    const orders = await postgres!.query<{ order_id: string; request_id: string; state: string }>("orders",
      "SELECT order_id, request_id, state FROM orders WHERE order_id = ANY($1)", [ids]);
    expect(orders.length).to.equal(new Set(ids).size);
    expect(new Set(orders.map((o) => o.request_id)).size).to.equal(orders.length);
    expect(orders.filter((o) => o.state === "PENDING").map((o) => o.order_id)).to.deep.equal([]);
    const captured = new Set(perOrder.filter((r) => Number(r.captured) === 1).map((r) => r.order_id));
    expect(orders.filter((o) => (o.state === "CONFIRMED") !== captured.has(o.order_id)).map((o) => `${o.order_id} ${o.state}`)).to.deep.equal([]);
    const cardOf = new Map(placed.map((p) => [p.requestId, p.card]));
    expect(orders.filter((o) => cardOf.get(o.request_id) === "tok_declined" && o.state !== "CANCELLED").map((o) => o.order_id)).to.deep.equal([]);
    expect(await stockTotals()).to.deep.equal(seeded);
    const duplicates = await postgres!.query("notifications", "SELECT event_id FROM notifications GROUP BY event_id HAVING COUNT(*) > 1");
    expect(duplicates).to.deep.equal([]);
  });
});
