// Orders placed per second through the gateway, and how long an order event
// takes from orders' outbox to the notifications consumer, with the services'
// data on PostgreSQL (one and two orders replicas) against SQLite (one), in
// one run (issue 15's benchmark):
//
//   node --import tsx bench/stores.ts [--rounds 3] [--duration 8] [--concurrency 8]
//                                     [--lag-rate 10] [--lag-duration 8] [--warmup 3]
//                                     [--time-limit-s 600]
//
//   (s1) SQLite: every service its own file (make run's default), one orders;
//   (p1) PostgreSQL: every service its own database on one server, one orders;
//   (p2) the same with two orders replicas sharing their database, the
//        gateway balancing PlaceOrder over both, notifications subscribed to
//        both (ORDERS_URL lists them), as test/e2e/replicated-orders.test.ts.
//
// Every service and the gateway are their real mains in their own processes,
// as a user runs them: info logs to a pipe (read here), metrics, tracing
// wiring (no exporter), mTLS between them (test CA certificates), the embedded
// event bus. The gateway's rate limit is raised (it would refuse the load);
// inventory is restocked through the gateway as an admin before the run.
// PostgreSQL is Debian's, started here in a temporary directory with its
// durability as shipped (fsync, synchronous commit); SQLite runs as the stores
// open it (WAL, synchronous NORMAL). Nothing is pinned: two orders replicas
// only make sense with the machine's cores to share.
//
// Per round and stack (rounds rotate the stacks' order):
//   - throughput: `concurrency` customers each placing orders one after the
//     other (POST /v1/orders, one line, tok_visa: the whole saga, reserve,
//     authorize, confirm, capture, answered CONFIRMED) for `duration` s;
//     orders/s, latency p50/p99, CPU per order of every process (/proc, the
//     PostgreSQL server and its backends included) and the machine's busy
//     share (/proc/stat), so that what other work took is seen;
//   - lag: orders offered at `lag-rate`/s (open loop, below saturation) for
//     `lag-duration` s; for each order event (OrderPlaced, OrderConfirmed)
//     lag = the notifications inbox row's handled_at - orders' outbox row's
//     created_at, both Date.now() (ms) on this machine, read back from the
//     databases once every event has been handled. The same is reported for
//     the events of the throughput phase (lag under saturation).
// Between phases the consumer drains. Figures are medians over rounds, ratios
// to (s1) medians of per-round ratios; compare within one run only. A failed
// order or an event not handled within 60 s fails the run; nothing is
// asserted on speed.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import pg from "pg";
import { devAuthDirName, signDevToken } from "../gateway/auth/index.js";
import { startPostgres, type PostgresServer } from "../test/support/postgres-server.js";
import { startService, type ServiceProcess } from "../test/support/service-process.js";
import { positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";
import { fmt } from "./support/number-format.js";
import { percentile } from "./support/percentile.js";
import { clockTicksPerSecond, descendantsOf } from "./support/proc-cpu.js";
import { benchCommand, writeResults } from "./support/results-file.js";
import { limitRun } from "./support/run-limit.js";


const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "8" },
    concurrency: { type: "string", default: "8" },
    "lag-rate": { type: "string", default: "10" },
    "lag-duration": { type: "string", default: "8" },
    warmup: { type: "string", default: "3" },
    "time-limit-s": { type: "string", default: "600" },
  },
});
const settings = {
  rounds: positive("rounds", args.rounds, 20),
  durationS: positive("duration", args.duration, 600),
  concurrency: positive("concurrency", args.concurrency, 256),
  lagRate: positive("lag-rate", args["lag-rate"], 10_000),
  lagDurationS: positive("lag-duration", args["lag-duration"], 600),
  warmupS: positive("warmup", args.warmup, 600),
  timeLimitMs: positive("time-limit-s", args["time-limit-s"], 3_600) * 1_000,
  skus: ["MUG-001", "STICKER-001", "NOTEBOOK-001", "TEE-001"],
  /** Per SKU, before the run: more than any run here places. */
  restockPerSku: 100_000,
  drainTimeoutMs: 60_000,
  /** How long each stack's CPU is watched with no load, after its warm-up. */
  idleMs: 3_000,
  rateLimit: 1_000_000_000,
};

type StackId = "s1" | "p1" | "p2";
interface StackSpec {
  readonly id: StackId;
  readonly label: string;
  readonly engine: "sqlite" | "postgres";
  readonly ordersReplicas: number;
}
const specs: readonly StackSpec[] = [
  { id: "s1", label: "SQLite, one orders replica (make run)", engine: "sqlite", ordersReplicas: 1 },
  { id: "p1", label: "PostgreSQL, one orders replica", engine: "postgres", ordersReplicas: 1 },
  { id: "p2", label: "PostgreSQL, two orders replicas", engine: "postgres", ordersReplicas: 2 },
];

interface Stack {
  readonly spec: StackSpec;
  readonly dataDir: string;
  /** Named processes in the order of the CPU table: gateway, orders (orders#2), inventory, payments, notifications. */
  readonly processes: readonly { readonly name: string; readonly process: ServiceProcess }[];
  readonly gatewayUrl: string;
  /** Where orders' outbox and notifications' inbox are read back. */
  readonly ordersDb: string;
  readonly notificationsDb: string;
  readonly tokens: readonly string[];
  /** CPU ms per second each process (and "postgres") uses with no orders coming: resume loops, relay polls, the /mesh page's polling. */
  background: Record<string, number>;
}

interface EventLag {
  readonly events: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Outbox row written to marked published. */
  readonly relayP50Ms: number;
  readonly relayP99Ms: number;
  /** Marked published to handled by notifications. */
  readonly deliveryP50Ms: number;
  readonly deliveryP99Ms: number;
}

interface Round {
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU ms per order by process name ("postgres" for the server and its backends). */
  cpuMsPerOrder: Record<string, number>;
  /** What the processes use with no load (Stack.background), spread over the phase's orders: part of cpuMsPerOrder. */
  backgroundMsPerOrder: number;
  /** Share (0-1) of the machine's cores busy over the phase, and the part of it not ours. */
  machineBusy: number;
  othersBusy: number;
  saturatedLag: EventLag;
  lag: EventLag;
  lagOffered: number;
  /** Orders not confirmed in the closed-loop phase and in the lag phase. */
  refused: number;
  lagRefused: number;
}

/** Orders placed so far, for the SKU of the next (the SKUs take turns). */
let placed = 0;
/** Orders not answered CONFIRMED (e.g. 429 when a service sheds load on a loaded machine), and the first of them. */
const refused = { count: 0, first: "" };
const processes: ServiceProcess[] = [];
let postgres: PostgresServer | undefined;
const dataDirs: string[] = [];
const cleanup = (): void => {
  for (const p of processes) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill("SIGKILL");
    }
  }
  if (postgres !== undefined) {
    try {
      process.kill(postgres.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const dir of dataDirs) {
    rmSync(dir, { recursive: true, force: true });
  }
};
const clearLimit = limitRun({ cleanup, limitMs: settings.timeLimitMs, graceMs: 30_000, sigterm: true });
const loadAtStart = loadavg();
const cores = availableParallelism();

let exitCode = 0;
try {
  console.log(
    `${settings.rounds} rounds; per stack and round: ${settings.concurrency} customers placing orders one after the other for ` +
      `${settings.durationS} s (closed loop), then ${settings.lagRate} orders/s offered for ${settings.lagDurationS} s (lag); ` +
      `real mains in their own processes (info logs, metrics, tracing wiring, mTLS, embedded bus); not pinned`,
  );
  console.log(`machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cores} cores, Linux ${release()}, Node ${process.version}; load average at start ${loadAtStart.map((l) => fmt(l, 2)).join(", ")} (the machine is shared with other work: read the ratios)`);

  postgres = await startPostgres({ durable: true });
  const stacks: Stack[] = [];
  for (const spec of specs) {
    const started = performance.now();
    const stack = await startStack(spec, postgres);
    stacks.push(stack);
    await restock(stack);
    // Warm-up: every process's code paths compiled, pools and sessions open.
    await closedLoop(stack, settings.warmupS * 1_000);
    await drained(stack, 0);
    stack.background = await idleCpu(stack, settings.idleMs);
    console.log(
      `  (${spec.id}) started and warmed up in ${fmt((performance.now() - started) / 1000, 1)} s; idle CPU ms/s: ` +
        Object.entries(stack.background).map(([n, ms]) => `${n} ${fmt(ms, 1)}`).join(", "),
    );
  }

  const rounds = new Map<StackId, Round[]>(specs.map((s) => [s.id, []]));
  for (let r = 0; r < settings.rounds; r++) {
    const order = stacks.map((_, i) => stacks[(i + r) % stacks.length]!);
    for (const stack of order) {
      const round = await measure(stack);
      rounds.get(stack.spec.id)!.push(round);
      console.log(
        `  round ${r + 1} (${stack.spec.id}) ${fmt(round.ordersPerSec, 1)} orders/s, p50/p99 ${fmt(round.p50Ms, 0)}/${fmt(round.p99Ms, 0)} ms, ` +
          `CPU ms/order ${Object.entries(round.cpuMsPerOrder).map(([n, ms]) => `${n} ${fmt(ms, 1)}`).join(", ")}; ` +
          `machine ${fmt(round.machineBusy * 100, 0)}% busy (${fmt(round.othersBusy * 100, 0)}% not ours); ` +
          `lag at ${settings.lagRate}/s p50/p99/max ${fmt(round.lag.p50Ms, 0)}/${fmt(round.lag.p99Ms, 0)}/${fmt(round.lag.maxMs, 0)} ms ` +
          `(${round.lag.events} events), saturated ${fmt(round.saturatedLag.p50Ms, 0)}/${fmt(round.saturatedLag.p99Ms, 0)} ms`,
      );
    }
  }
  report(stacks, rounds);
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  exitCode = 1;
} finally {
  await Promise.all(processes.map((p) => p.stop()));
  await postgres?.dispose();
  for (const dir of dataDirs) {
    rmSync(dir, { recursive: true, force: true });
  }
  clearLimit();
}
process.exit(exitCode);

// ------------------------------------------------------------------ stacks

async function startStack(spec: StackSpec, server: PostgresServer): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), `meshwork-bench-stores-${spec.id}-`));
  dataDirs.push(dataDir);
  const databases: Record<string, string> = {};
  if (spec.engine === "postgres") {
    for (const name of ["inventory", "payments", "orders", "notifications"]) {
      databases[name] = await server.createDatabase(`bench_${spec.id}_${name}`);
    }
  }
  const envOf = (name: string): Record<string, string> => ({
    DATA_DIR: dataDir,
    ...(spec.engine === "postgres" ? { DATABASE_URL: databases[name]! } : {}),
  });
  const start = async (name: string, env: Record<string, string>): Promise<ServiceProcess> => {
    const p = await startService(name, env);
    processes.push(p);
    return p;
  };
  const [inventory, payments] = await Promise.all([start("inventory", envOf("inventory")), start("payments", envOf("payments"))]);
  const ordersEnv = { ...envOf("orders"), INVENTORY_URL: inventory.url, PAYMENTS_URL: payments.url };
  // Replicas start together, as a deployment rolls them out; the migrations run once under the advisory lock.
  const orders = await Promise.all(Array.from({ length: spec.ordersReplicas }, () => start("orders", ordersEnv)));
  const ordersUrls = orders.map((o) => o.url).join(",");
  const notifications = await start("notifications", { ...envOf("notifications"), ORDERS_URL: ordersUrls });
  const gateway = await start("gateway", {
    DATA_DIR: dataDir,
    INVENTORY_URL: inventory.url,
    ORDERS_URL: ordersUrls,
    NOTIFICATIONS_URL: notifications.url,
    MESH_SERVICES: `inventory=${inventory.url},payments=${payments.url},orders=${orders[0]!.url},notifications=${notifications.url}`,
    RATE_LIMIT_PER_SECOND: String(settings.rateLimit),
    RATE_LIMIT_BURST: String(settings.rateLimit),
  });
  const tokenDir = join(dataDir, devAuthDirName);
  const tokens = await Promise.all(
    Array.from({ length: settings.concurrency }, (_, i) => signDevToken(tokenDir, { subject: `bench-customer-${i + 1}`, scopes: [], ttlSec: 3_600 })),
  );
  return {
    spec,
    dataDir,
    processes: [
      { name: "gateway", process: gateway },
      ...orders.map((o, i) => ({ name: i === 0 ? "orders" : `orders#${i + 1}`, process: o })),
      { name: "inventory", process: inventory },
      { name: "payments", process: payments },
      { name: "notifications", process: notifications },
    ],
    gatewayUrl: gateway.url,
    ordersDb: spec.engine === "postgres" ? databases["orders"]! : join(dataDir, "orders.db"),
    notificationsDb: spec.engine === "postgres" ? databases["notifications"]! : join(dataDir, "notifications.db"),
    tokens,
    background: {},
  };
}

/** AdjustStock through the gateway as an admin, as make load does: the run measures the mesh, not an empty shelf. */
async function restock(stack: Stack): Promise<void> {
  const admin = await signDevToken(join(stack.dataDir, devAuthDirName), { subject: "bench-admin", scopes: ["meshwork:admin"] });
  for (const sku of settings.skus) {
    const res = await fetch(`${stack.gatewayUrl}/v1/inventory/items/${sku}:adjust`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ adjustmentId: `bench-${stack.spec.id}-${sku}`, delta: settings.restockPerSku, reason: "bench/stores.ts: stock for the run" }),
    });
    if (!res.ok) {
      throw new Error(`(${stack.spec.id}) restocking ${sku}: ${res.status} ${await res.text()}`);
    }
  }
}

// ------------------------------------------------------------------ load

/** One order through the gateway; its latency in ms when answered CONFIRMED, else undefined (counted in `refused`). */
async function placeOrder(stack: Stack, customer: number): Promise<number | undefined> {
  const n = placed++;
  const started = performance.now();
  const res = await fetch(`${stack.gatewayUrl}/v1/orders`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.tokens[customer % stack.tokens.length]!}`, "content-type": "application/json" },
    body: JSON.stringify({
      requestId: `bench-${randomUUID()}`,
      lines: [{ sku: settings.skus[n % settings.skus.length]!, quantity: 1 }],
      cardToken: "tok_visa",
    }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200 || !text.includes('"ORDER_STATE_CONFIRMED"')) {
    refused.count++;
    refused.first ||= `(${stack.spec.id}) ${res.status} ${text.slice(0, 200)}`;
    return undefined;
  }
  return ms;
}

/** `concurrency` customers placing orders one after the other until `ms` has passed; every latency. */
async function closedLoop(stack: Stack, ms: number): Promise<{ latencies: Float64Array; wallMs: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + ms;
  await Promise.all(
    Array.from({ length: settings.concurrency }, async (_, customer) => {
      while (performance.now() < until) {
        const ms = await placeOrder(stack, customer);
        if (ms !== undefined) {
          latencies.push(ms);
        }
      }
    }),
  );
  return { latencies: Float64Array.from(latencies).sort(), wallMs: performance.now() - started };
}

/** `rate` orders a second for `ms`, each sent at its time whatever the others do. */
async function openLoop(stack: Stack, rate: number, ms: number): Promise<number> {
  const total = Math.floor((rate * ms) / 1000);
  const started = performance.now();
  const sent: Promise<number | undefined>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    sent.push(placeOrder(stack, i));
  }
  await Promise.all(sent);
  return total;
}

// ------------------------------------------------------------------ measuring

/**
 * CPU µs of a process and its children, reaped ones included (/proc stat
 * fields 14-17: utime, stime, cutime, cstime), live descendants added: the
 * PostgreSQL server's backends end when a pool closes a connection, and
 * their time then moves to the postmaster's cutime instead of vanishing.
 */
function treeCpuWithReapedUs(pid: number): number {
  const own = (p: number): number => {
    const stat = readFileSync(`/proc/${p}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1_000_000) / clockTicksPerSecond;
  };
  let total = own(pid);
  for (const child of descendantsOf(pid)) {
    try {
      total += own(child);
    } catch {
      // Gone between listing and reading: its time is in its parent's cutime by now.
    }
  }
  return total;
}

/** The processes whose CPU counts for a stack: its mains and, on PostgreSQL, the server with its backends. */
function pidsOf(stack: Stack): { name: string; pid: number }[] {
  const pids = stack.processes.map((p) => ({ name: p.name, pid: p.process.child.pid! }));
  if (stack.spec.engine === "postgres") {
    pids.push({ name: "postgres", pid: postgres!.pid });
  }
  return pids;
}

/** CPU ms per second of each process over `ms` with no load. */
async function idleCpu(stack: Stack, ms: number): Promise<Record<string, number>> {
  const pids = pidsOf(stack);
  const before = pids.map((p) => treeCpuWithReapedUs(p.pid));
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const seconds = (performance.now() - started) / 1000;
  return Object.fromEntries(pids.map((p, i) => [p.name, (treeCpuWithReapedUs(p.pid) - before[i]!) / 1000 / seconds]));
}

async function measure(stack: Stack): Promise<Round> {
  const pids = pidsOf(stack);
  const cpuBefore = pids.map((p) => treeCpuWithReapedUs(p.pid));
  const machineBefore = machineTicks();
  const refusedBefore = refused.count;
  const throughputFrom = Date.now();
  const run = await closedLoop(stack, settings.durationS * 1_000);
  const throughputTo = Date.now();
  const machineAfter = machineTicks();
  const cpuAfter = pids.map((p) => treeCpuWithReapedUs(p.pid));
  const orders = run.latencies.length;
  if (orders === 0) {
    throw new Error(`(${stack.spec.id}) no order was confirmed in the closed-loop phase; first refusal: ${refused.first}`);
  }
  const refusedInRun = refused.count - refusedBefore;
  const cpuMsPerOrder: Record<string, number> = {};
  pids.forEach((p, i) => (cpuMsPerOrder[p.name] = (cpuAfter[i]! - cpuBefore[i]!) / 1000 / orders));
  const oursUs = pids.reduce((sum, _, i) => sum + cpuAfter[i]! - cpuBefore[i]!, 0);
  const busyShare = (machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total);
  const oursShare = oursUs / 1000 / (run.wallMs * cores);
  // Two events per order; the consumer catches up before the lag phase.
  await drained(stack, throughputFrom);
  const saturatedLag = await eventLag(stack, throughputFrom, throughputTo);

  const lagFrom = Date.now();
  const lagOffered = await openLoop(stack, settings.lagRate, settings.lagDurationS * 1_000);
  const lagTo = Date.now();
  await drained(stack, lagFrom);
  const lag = await eventLag(stack, lagFrom, lagTo);
  return {
    ordersPerSec: (orders * 1000) / run.wallMs,
    p50Ms: percentile(run.latencies, 0.5),
    p99Ms: percentile(run.latencies, 0.99),
    cpuMsPerOrder,
    backgroundMsPerOrder: Object.values(stack.background).reduce((a, b) => a + b, 0) * (run.wallMs / 1000) / orders,
    machineBusy: busyShare,
    othersBusy: Math.max(0, busyShare - oursShare),
    saturatedLag,
    lag,
    lagOffered,
    refused: refusedInRun,
    lagRefused: refused.count - refusedBefore - refusedInRun,
  };
}

/** Busy and total jiffies of every core so far (/proc/stat's cpu line; idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is inside user)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

/** An order event's times (ms since the epoch): its outbox row written, marked published, handled by notifications. */
interface OutboxTimes {
  readonly created: number;
  readonly published: number | null;
}

/** Outbox rows created from `from` on (by event id), and inbox rows handled from `from` on (event id to handled_at). */
async function readEvents(stack: Stack, from: number): Promise<{ outbox: Map<string, OutboxTimes>; inbox: Map<string, number> }> {
  type Row = { k: string; t: number | string; p?: number | string | null };
  const outboxSql = "SELECT id AS k, created_at AS t, published_at AS p FROM outbox WHERE created_at >= ";
  const inboxSql = "SELECT event_id AS k, handled_at AS t FROM inbox WHERE handled_at >= ";
  let outbox: Row[];
  let inbox: Row[];
  if (stack.spec.engine === "sqlite") {
    const read = (file: string, sql: string): Row[] => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare<[number], Row>(`${sql}?`).all(from);
      } finally {
        db.close();
      }
    };
    outbox = read(stack.ordersDb, outboxSql);
    inbox = read(stack.notificationsDb, inboxSql);
  } else {
    const read = async (url: string, sql: string): Promise<Row[]> => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query<Row>(`${sql}$1`, [from])).rows;
      } finally {
        await client.end();
      }
    };
    outbox = await read(stack.ordersDb, outboxSql);
    inbox = await read(stack.notificationsDb, inboxSql);
  }
  return {
    outbox: new Map(outbox.map((r) => [r.k, { created: Number(r.t), published: r.p === null || r.p === undefined ? null : Number(r.p) }])),
    inbox: new Map(inbox.map((r) => [r.k, Number(r.t)])),
  };
}

/** Waits until notifications has handled every order event created from `from` on (60 s at most: then the run fails). */
async function drained(stack: Stack, from: number): Promise<void> {
  const until = Date.now() + settings.drainTimeoutMs;
  for (;;) {
    const { outbox, inbox } = await readEvents(stack, from);
    const missing = [...outbox.keys()].filter((id) => !inbox.has(id)).length;
    if (missing === 0) {
      return;
    }
    if (Date.now() > until) {
      throw new Error(`(${stack.spec.id}) ${missing} of ${outbox.size} order events not handled by notifications within ${settings.drainTimeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Lag of the events whose outbox rows were created between `from` and `to`
 * (all handled: see `drained`), whole and in its two parts: outbox row to
 * marked published (the saga's commit, the relay's wake-up, claim and
 * publish: the append to the event log) and published to handled (the event
 * log read and streamed to notifications, its handler and inbox commit).
 */
async function eventLag(stack: Stack, from: number, to: number): Promise<EventLag> {
  const { outbox, inbox } = await readEvents(stack, from);
  const rows = [...outbox].filter(([, o]) => o.created <= to);
  if (rows.length === 0) {
    throw new Error(`(${stack.spec.id}) no order events between ${from} and ${to}`);
  }
  const sorted = (values: number[]): Float64Array => Float64Array.from(values).sort();
  const whole = sorted(rows.map(([id, o]) => inbox.get(id)! - o.created));
  const relay = sorted(rows.map(([, o]) => (o.published ?? o.created) - o.created));
  const delivery = sorted(rows.map(([id, o]) => inbox.get(id)! - (o.published ?? o.created)));
  return {
    events: rows.length,
    p50Ms: percentile(whole, 0.5),
    p99Ms: percentile(whole, 0.99),
    maxMs: whole[whole.length - 1]!,
    relayP50Ms: percentile(relay, 0.5),
    relayP99Ms: percentile(relay, 0.99),
    deliveryP50Ms: percentile(delivery, 0.5),
    deliveryP99Ms: percentile(delivery, 0.99),
  };
}

// ------------------------------------------------------------------ report

function report(stacks: readonly Stack[], rounds: Map<StackId, Round[]>): void {
  const base = rounds.get("s1")!;
  const med = (list: Round[], pick: (r: Round) => number): number => medianOf(list.map(pick));
  const ratio = (list: Round[], pick: (r: Round) => number): number => medianOf(list.map((r, i) => pick(r) / pick(base[i]!)));
  const names = (stack: Stack): string[] => [...stack.processes.map((p) => p.name), ...(stack.spec.engine === "postgres" ? ["postgres"] : [])];
  const totalCpu = (r: Round): number => Object.values(r.cpuMsPerOrder).reduce((a, b) => a + b, 0);

  console.log();
  console.log(`Medians of ${settings.rounds} rounds; ratios to (s1) are medians of per-round ratios.`);
  console.log();
  console.log(
    `| | store | orders/s at ${settings.concurrency} in flight | vs (s1) | p50 / p99 ms | CPU ms/order, all processes | ` +
      `machine busy (not ours) | lag p50 / p99 / max ms at ${settings.lagRate} orders/s | vs (s1) p50 / p99 | ` +
      `of which outbox to published p50 / p99 | published to handled p50 / p99 | lag p50 / p99 ms at saturation | not confirmed (all rounds) |`,
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const stack of stacks) {
    const list = rounds.get(stack.spec.id)!;
    console.log(
      `| (${stack.spec.id}) | ${stack.spec.label} | ${fmt(med(list, (r) => r.ordersPerSec), 1)} | ${fmt(ratio(list, (r) => r.ordersPerSec), 2)}x | ` +
        `${fmt(med(list, (r) => r.p50Ms), 0)} / ${fmt(med(list, (r) => r.p99Ms), 0)} | ${fmt(med(list, totalCpu), 1)} | ` +
        `${fmt(med(list, (r) => r.machineBusy) * 100, 0)}% (${fmt(med(list, (r) => r.othersBusy) * 100, 0)}%) | ` +
        `${fmt(med(list, (r) => r.lag.p50Ms), 0)} / ${fmt(med(list, (r) => r.lag.p99Ms), 0)} / ${fmt(med(list, (r) => r.lag.maxMs), 0)} | ` +
        `${fmt(ratio(list, (r) => r.lag.p50Ms), 2)}x / ${fmt(ratio(list, (r) => r.lag.p99Ms), 2)}x | ` +
        `${fmt(med(list, (r) => r.lag.relayP50Ms), 0)} / ${fmt(med(list, (r) => r.lag.relayP99Ms), 0)} | ` +
        `${fmt(med(list, (r) => r.lag.deliveryP50Ms), 0)} / ${fmt(med(list, (r) => r.lag.deliveryP99Ms), 0)} | ` +
        `${fmt(med(list, (r) => r.saturatedLag.p50Ms), 0)} / ${fmt(med(list, (r) => r.saturatedLag.p99Ms), 0)} | ` +
        `${list.reduce((n, r) => n + r.refused + r.lagRefused, 0)} |`,
    );
  }
  if (refused.count > 0) {
    console.log();
    console.log(`Not confirmed: ${refused.count} orders in all (left out of orders/s and latency); the first: ${refused.first}`);
  }
  console.log();
  console.log(
    `Lag: ${fmt(medianOf(stacks.flatMap((s) => rounds.get(s.spec.id)!.map((r) => r.lag.events))), 0)} events per stack and round at ` +
      `${settings.lagRate} orders/s (p99 is among the few slowest of them); Date.now() on one machine, 1 ms resolution.`,
  );

  console.log();
  console.log("Where the time goes: CPU ms per order by process (/proc utime + stime over the closed-loop phase, medians):");
  console.log();
  const allNames = [...new Set(stacks.flatMap(names))];
  console.log(`| process | ${stacks.map((s) => `(${s.spec.id})`).join(" | ")} |`);
  console.log(`|---|${stacks.map(() => "---:").join("|")}|`);
  for (const name of allNames) {
    console.log(
      `| ${name} | ${stacks
        .map((s) => (names(s).includes(name) ? fmt(med(rounds.get(s.spec.id)!, (r) => r.cpuMsPerOrder[name] ?? 0), 2) : "-"))
        .join(" | ")} |`,
    );
  }
  console.log(`| total | ${stacks.map((s) => fmt(med(rounds.get(s.spec.id)!, totalCpu), 2)).join(" | ")} |`);
  console.log(
    `| of which idle background (what the processes use with no orders, spread over the phase's orders) | ` +
      `${stacks.map((s) => fmt(med(rounds.get(s.spec.id)!, (r) => r.backgroundMsPerOrder), 2)).join(" | ")} |`,
  );
  console.log();
  for (const stack of stacks) {
    const list = rounds.get(stack.spec.id)!;
    const cpu = med(list, totalCpu);
    const rate = med(list, (r) => r.ordersPerSec);
    const top = names(stack)
      .map((n) => ({ n, ms: med(list, (r) => r.cpuMsPerOrder[n] ?? 0) }))
      .sort((a, b) => b.ms - a.ms);
    console.log(
      `(${stack.spec.id}) ${fmt(cpu, 1)} CPU ms per order, so ${cores} cores carry at most ${fmt((cores * 1000) / cpu, 0)} orders/s at this cost; ` +
        `measured ${fmt(rate, 1)} orders/s used ${fmt((rate * cpu) / (cores * 10), 0)}% of the machine ` +
        `(other work took ${fmt(med(list, (r) => r.othersBusy) * 100, 0)}%); ` +
        `most CPU: ${top.slice(0, 3).map((t) => `${t.n} ${fmt((100 * t.ms) / cpu, 0)}%`).join(", ")}.`,
    );
  }

  writeResults("stores", {
    date: new Date().toISOString(),
    command: benchCommand(import.meta.url),
    node: process.version,
    machine: { cpu: cpus()[0]?.model, cores, kernel: release() },
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    settings,
    results: Object.fromEntries(stacks.map((s) => [s.spec.id, { label: s.spec.label, rounds: rounds.get(s.spec.id) }])),
  });
}
