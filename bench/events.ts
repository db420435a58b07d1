// Events from the outbox to a consumer's effect, on the embedded bus and on
// NATS JetStream, in one run:
//
//   (a) embedded bus: the producer appends to its own event log and serves
//       it over EventLogService; the consumer pulls it;
//   (b) NATS JetStream: a nats-server (Debian's, -js, file store) between
//       them, durable pull consumer.
//
//   npx tsx bench/events.ts [--rounds 3] [--events 20000] [--rate 500]
//                           [--rate-events 5000] [--warmup 3000]
//                           [--cpu-prof a|b] [--time-limit-s 900]
//
// Each bus has a producer and a consumer process of its own (this file with
// --role), each with its own SQLite database, wired as the service mains do
// (openDatabase, eventBusFromEnv, startOutboxRelay woken after each commit,
// startConsumer with an inbox). The producer writes each event as a
// state-change row plus its outbox row (an OrderConfirmed) in one
// transaction; the consumer's handler writes one effect row per event in the
// inbox transaction. Producer and nats-server are pinned to core 0, the
// consumer (and this process, idle while a phase runs) to core 1.
//
// Per round and bus, two phases:
//   - lag: `rate-events` events offered at `rate`/s, below saturation (on
//     this 2-core VM NATS carried 1,200-1,800 events/s flat out, so at
//     1,000/s its lag was mostly queueing; the table shows the offered rate
//     as a share of each bus's flat-out rate); lag = effect time - outbox
//     time per event, p50/p99/max;
//   - throughput: `events` events written flat out (one transaction per event,
//     yielding to the event loop between them, so the relay runs alongside);
//     events/s = events / (last effect - first outbox write).
// Both times are CLOCK_MONOTONIC (process.hrtime, one clock for every process
// on the machine) in µs, taken inside each transaction right before it
// commits and stored in its row (producer: bench_orders; consumer:
// bench_effects); this process reads both databases back after each phase
// and joins them on the event id. A commit's own cost (WAL, synchronous
// NORMAL: no fsync per commit) is on both sides and so roughly cancels; the
// producer's transaction time is reported as its bound.
//
// Rounds alternate the order of the buses (a, b, then b, a, ...); figures are
// medians over rounds, (b)/(a) ratios medians of per-round ratios. Compare
// ratios within one run only. Every phase is checked: every event written
// has exactly one effect row (rows and distinct event ids both equal the
// events written), and at the end the outboxes are empty, the inboxes hold
// every event once and there are no dead letters; a mismatch fails the run.
// Results go to bench/results/events.json (not with --cpu-prof, which
// profiles one bus's producer and consumer; the profiles are summarized and
// left in a temporary directory).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { OrderConfirmedSchema } from "../gen/meshwork/orders/v1/events_pb.js";
import {
  appendToOutbox,
  createEnvelope,
  eventBusFromEnv,
  eventBusServices,
  eventLogMigration,
  inboxMigration,
  on,
  outboxMigration,
  sqliteEventStores,
  startConsumer,
  startOutboxRelay,
} from "../mesh/events/index.js";
import { createLogger } from "../mesh/logger.js";
import { serve } from "../mesh/server/serve.js";
import { openDatabase } from "../mesh/sqlite/open-database.js";
import { SqliteSession } from "../mesh/sqlite/sqlite-session.js";
import { fail, positive } from "./support/cli-args.js";
import { printProfileSummaries } from "./support/cpu-profile-summary.js";
import { medianOf } from "./support/median.js";
import { IpcChild } from "./support/ipc-child.js";
import { fmt } from "./support/number-format.js";
import { answerParent, hasParent } from "./support/parent-channel.js";
import { percentile } from "./support/percentile.js";
import { canPin, notPinnedNote, pinSelf } from "./support/pinning.js";
import { procTreeCpuUs } from "./support/proc-cpu.js";
import { benchCommand, packageVersion, writeResults } from "./support/results-file.js";
import { limitRun } from "./support/run-limit.js";
import { launchNatsServer } from "../test/support/nats-server.js";
import { freePort } from "./support/server-process.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const thisFile = fileURLToPath(import.meta.url);
const loadAtStart = loadavg();
/** Read before this process pins itself: availableParallelism() follows the affinity mask. */
const machineCores = availableParallelism();
/** The Debian package's binary, as the tests use it. */
const natsServerBinary = "/usr/sbin/nats-server";
const stream = "orders";
const durable = "bench";

type BusId = "a" | "b";
interface Bus {
  readonly id: BusId;
  readonly label: string;
}
const buses: readonly Bus[] = [
  { id: "a", label: "embedded bus" },
  { id: "b", label: "NATS JetStream" },
];
const busIds = buses.map((b) => b.id);

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    events: { type: "string", default: "20000" },
    rate: { type: "string", default: "500" },
    "rate-events": { type: "string", default: "5000" },
    warmup: { type: "string", default: "3000" },
    "cpu-prof": { type: "string" },
    "time-limit-s": { type: "string", default: "900" },
    // A child's part; set by the parent only.
    role: { type: "string" },
    dir: { type: "string" },
    nats: { type: "string" },
    source: { type: "string" },
  },
});
const settings = {
  rounds: positive("rounds", args.rounds, 20),
  flatOutEvents: positive("events", args.events, 1_000_000),
  ratePerSec: positive("rate", args.rate, 100_000),
  rateEvents: positive("rate-events", args["rate-events"], 1_000_000),
  warmupEvents: positive("warmup", args.warmup, 1_000_000),
  /** The whole run; a round that would not fit is left out, past it the run is killed. */
  timeLimitMs: positive("time-limit-s", args["time-limit-s"], 3_600) * 1_000,
  /** A phase whose events have not all had their effect by then fails the run. */
  phaseTimeoutMs: 180_000,
};

/** CLOCK_MONOTONIC in µs: the same clock in every process on this machine. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

// ---------------------------------------------------------------- children

/** The producer's state change: one row per confirmed order, with the time its transaction wrote the outbox row. */
const benchOrdersMigration = `
CREATE TABLE bench_orders (
  order_id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  phase TEXT NOT NULL,
  committed_us INTEGER NOT NULL
);
CREATE INDEX bench_orders_phase ON bench_orders (phase);
`;

/** The consumer's effect: one row per handled event (not unique on purpose, so a second effect would show). */
const benchEffectsMigration = `
CREATE TABLE bench_effects (
  event_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  effected_us INTEGER NOT NULL
);
CREATE INDEX bench_effects_event ON bench_effects (event_id);
`;

interface WriteResult {
  readonly wallMs: number;
  /** Events per second the producer actually offered. */
  readonly offeredPerSec: number;
  /** The producer's transaction (state row + outbox row + commit), µs. */
  readonly txP50Us: number;
  readonly txP99Us: number;
}

type ParentMessage = { type: "write"; phase: string; count: number; ratePerSec: number } | { type: "reach"; handled: number } | { type: "stop" };
type ChildMessage =
  | { type: "ready"; port: number }
  | { type: "written"; result: WriteResult }
  | { type: "reached"; handled: number }
  | { type: "error"; message: string };

type Role = "producer" | "consumer";

async function runChild(role: Role, dir: string): Promise<void> {
  if (!hasParent()) {
    fail("--role is set by bench/events.ts itself, which talks to its children over IPC");
  }
  const logger = createLogger(`bench-${role}`, "warn");
  const env = args.nats === undefined ? {} : { NATS_URL: args.nats };
  let close: () => Promise<void>;
  let write: ((phase: string, count: number, ratePerSec: number) => Promise<WriteResult>) | undefined;
  let reach: ((handled: number) => Promise<number>) | undefined;
  let port = 0;

  if (role === "producer") {
    const db = openDatabase(join(dir, "producer.db"), { name: "bench-producer", migrations: [outboxMigration, eventLogMigration, benchOrdersMigration] });
    const session = new SqliteSession(db);
    const events = sqliteEventStores(session);
    const bus = await eventBusFromEnv(env, { name: "bench-producer", store: events, logger, streams: [stream] });
    const relay = startOutboxRelay({ outbox: events.outbox, bus, logger });
    const services = eventBusServices(bus);
    const server = services.length === 0 ? undefined : await serve({ services, port: 0, logger });
    port = server?.port ?? 0;
    const insertOrder = db.prepare("INSERT INTO bench_orders (order_id, event_id, phase, committed_us) VALUES (?, ?, ?, ?)");
    const confirm = db.transaction((orderId: string, phase: string) => {
      const envelope = createEnvelope(
        OrderConfirmedSchema,
        { orderId, customerId: "bench-customer", paymentId: `pay-${orderId}`, totalMinor: 1299n, currencyCode: "USD" },
        { source: "meshwork.bench", subject: orderId },
      );
      appendToOutbox(db, stream, envelope);
      insertOrder.run(orderId, envelope.id, phase, monotonicUs());
    });
    write = (phase, count, ratePerSec) => writeEvents(phase, count, ratePerSec, (orderId) => {
      // As a service store does: the connection is taken in turn (at once when no transaction holds it).
      void session.run(() => confirm(orderId, phase)).then(() => relay.wake());
    });
    close = async () => {
      await relay.stop();
      await bus.close();
      await server?.shutdown();
      db.close();
    };
  } else {
    const db = openDatabase(join(dir, "consumer.db"), { name: "bench-consumer", migrations: [inboxMigration, benchEffectsMigration] });
    const events = sqliteEventStores(new SqliteSession(db));
    const bus = await eventBusFromEnv(env, {
      name: "bench-consumer",
      store: events,
      logger,
      streams: [stream],
      ...(args.source === undefined ? {} : { sources: { [stream]: args.source } }),
    });
    const insertEffect = db.prepare("INSERT INTO bench_effects (event_id, order_id, effected_us) VALUES (?, ?, ?)");
    let handled = 0;
    let waiting: { handled: number; resolve: (n: number) => void } | undefined;
    const consumer = startConsumer({
      bus,
      inbox: events.inbox,
      stream,
      durable,
      logger,
      handlers: [
        on(OrderConfirmedSchema, (order, envelope) => {
          insertEffect.run(envelope.id, order.orderId, monotonicUs());
          // Counted inside the transaction; the reply goes out on a later
          // turn of the event loop, after the commit.
          handled++;
          if (waiting !== undefined && handled >= waiting.handled) {
            const { resolve } = waiting;
            waiting = undefined;
            setImmediate(() => resolve(handled));
          }
        }),
      ],
    });
    reach = (target) =>
      handled >= target ? Promise.resolve(handled) : new Promise((resolve) => (waiting = { handled: target, resolve }));
    close = async () => {
      await consumer.stop();
      await bus.close();
      db.close();
    };
  }

  answerParent<ParentMessage>(port, {
    answer: async (message): Promise<ChildMessage> => {
      switch (message.type) {
        case "write":
          return { type: "written", result: await write!(message.phase, message.count, message.ratePerSec) };
        case "reach":
          return { type: "reached", handled: await reach!(message.handled) };
      }
    },
    close,
    closeGraceMs: 3_000,
  });
}

/**
 * Writes `count` events through `writeOne`: at `ratePerSec` (event i is due
 * at start + i/rate; a late tick writes every event due), or with 0 flat
 * out, one per turn of the event loop so that the relay and the server run
 * between writes as they would beside a busy service.
 */
async function writeEvents(phase: string, count: number, ratePerSec: number, writeOne: (orderId: string) => void): Promise<WriteResult> {
  const txUs = new Float64Array(count);
  const start = performance.now();
  let i = 0;
  const one = (): void => {
    const t = performance.now();
    writeOne(`${phase}-${i}`);
    txUs[i] = (performance.now() - t) * 1000;
    i++;
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      if (ratePerSec === 0) {
        one();
      } else {
        const due = Math.min(count, Math.floor(((performance.now() - start) * ratePerSec) / 1000) + 1);
        while (i < due) {
          one();
        }
      }
      if (i >= count) {
        resolve();
      } else if (ratePerSec === 0) {
        setImmediate(tick);
      } else {
        setTimeout(tick, Math.max(0, start + (i * 1000) / ratePerSec - performance.now()));
      }
    };
    tick();
  });
  const wallMs = performance.now() - start;
  txUs.sort();
  return { wallMs, offeredPerSec: (count / wallMs) * 1000, txP50Us: percentile(txUs, 0.5), txP99Us: percentile(txUs, 0.99) };
}

// ---------------------------------------------------------------- the parent

/** A child process of this file (a producer or consumer role). */
class Child {
  static start(name: string, childArgs: readonly string[], core: number | undefined, nodeArgs: readonly string[] = []): Child {
    return new Child(IpcChild.start(name, thisFile, childArgs, { cwd: root, core, nodeArgs }));
  }

  private constructor(private readonly ipc: IpcChild<ParentMessage, ChildMessage>) {}

  get process(): ChildProcess {
    return this.ipc.process;
  }

  get pid(): number {
    return this.ipc.pid;
  }

  async ready(timeoutMs: number): Promise<number> {
    return (await this.ipc.ask(undefined, "ready", timeoutMs)).port;
  }

  async write(phase: string, count: number, ratePerSec: number): Promise<WriteResult> {
    return (await this.ipc.ask({ type: "write", phase, count, ratePerSec }, "written", settings.phaseTimeoutMs)).result;
  }

  async reach(handled: number): Promise<number> {
    return (await this.ipc.ask({ type: "reach", handled }, "reached", settings.phaseTimeoutMs)).handled;
  }

  /** Asks the child to exit; kills it (by its PID) if it has not within 5 s. */
  stop(): Promise<void> {
    return this.ipc.stop();
  }
}

/** nats-server with JetStream on a free port, its store in `dir`, pinned to `core` when given. */
async function startNatsServer(dir: string, core: number | undefined): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const child = await launchNatsServer(port, join(dir, "jetstream"), core);
  return { url: `nats://127.0.0.1:${port}`, process: child };
}

/** One bus's processes and databases. */
interface Stack {
  readonly bus: Bus;
  readonly dir: string;
  readonly producer: Child;
  readonly consumer: Child;
  readonly natsServer?: ChildProcess;
  /** Events written so far: what the consumer must have handled. */
  written: number;
  phases: number;
}

interface PhaseReading {
  readonly events: number;
  readonly effectRows: number;
  readonly distinctEffects: number;
  /** Effect - outbox time per event, µs, ascending. */
  readonly lagUs: Float64Array;
  readonly firstCommitUs: number;
  readonly lastEffectUs: number;
}

interface Round {
  /** Flat out: events / (last effect - first outbox write). */
  eventsPerSec: number;
  /** Flat out: how fast the producer wrote its outbox rows. */
  writtenPerSec: number;
  /** Flat out: CPU per event, µs. */
  producerCpuUs: number;
  consumerCpuUs: number;
  natsServerCpuUs: number;
  /** At the fixed rate. */
  offeredPerSec: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  txP50Us: number;
}

interface Check {
  readonly bus: BusId;
  readonly what: string;
  readonly expected: number;
  readonly measured: number;
  readonly ok: boolean;
}

async function runBench(): Promise<void> {
  const profiled = args["cpu-prof"] as BusId | undefined;
  if (profiled !== undefined && !busIds.includes(profiled)) {
    fail(`--cpu-prof takes one of ${busIds.join(", ")}`);
  }
  if (spawnSync(natsServerBinary, ["--version"]).status !== 0) {
    fail(`${natsServerBinary} is missing: apt-get install -y nats-server`);
  }
  const profileDir = profiled === undefined ? undefined : mkdtempSync(join(tmpdir(), "meshwork-events-prof-"));
  const pinned = canPin(machineCores);
  const stacks: Stack[] = [];
  const dirs: string[] = [];
  const natsServers: ChildProcess[] = [];
  const children: Child[] = [];
  const startedAt = performance.now();
  const cleanup = (): void => {
    for (const child of children) {
      child.process.kill("SIGKILL");
    }
    for (const server of natsServers) {
      server.kill("SIGKILL");
    }
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const clearLimit = limitRun({ cleanup, limitMs: settings.timeLimitMs, graceMs: 60_000, sigterm: true });

  let exitCode = 0;
  try {
    const pinFailure = pinned ? pinSelf(1) : undefined;
    if (pinFailure !== undefined) {
      fail(`taskset on the bench process failed: ${pinFailure}`);
    }
    const producerCore = pinned ? 0 : undefined;
    const consumerCore = pinned ? 1 : undefined;
    console.log(
      `${settings.rounds} rounds; per bus and round: ${settings.rateEvents} events at ${settings.ratePerSec}/s (lag), then ` +
        `${settings.flatOutEvents} events flat out (throughput); warm-up ${settings.warmupEvents}; ` +
        (pinned ? "producer and nats-server on core 0, consumer on core 1" : notPinnedNote),
    );

    for (const bus of buses) {
      const dir = mkdtempSync(join(tmpdir(), `meshwork-events-${bus.id}-`));
      dirs.push(dir);
      const prof = profiled === bus.id ? ["--cpu-prof", "--cpu-prof-dir", profileDir!] : [];
      let natsServer: ChildProcess | undefined;
      const busArgs: string[] = [];
      if (bus.id === "b") {
        const nats = await startNatsServer(dir, producerCore);
        natsServer = nats.process;
        natsServers.push(natsServer);
        busArgs.push("--nats", nats.url);
      }
      const producer = Child.start(`(${bus.id}) producer`, ["--role", "producer", "--dir", dir, ...busArgs], producerCore, prof);
      children.push(producer);
      const port = await producer.ready(60_000);
      const source = bus.id === "a" ? ["--source", `http://127.0.0.1:${port}`] : [];
      const consumer = Child.start(`(${bus.id}) consumer`, ["--role", "consumer", "--dir", dir, ...busArgs, ...source], consumerCore, prof);
      children.push(consumer);
      await consumer.ready(60_000);
      const stack: Stack = { bus, dir, producer, consumer, ...(natsServer === undefined ? {} : { natsServer }), written: 0, phases: 0 };
      stacks.push(stack);
      await runPhase(stack, "warmup", settings.warmupEvents, 0);
    }

    const rounds = new Map<BusId, Round[]>(busIds.map((id) => [id, []]));
    const checks: Check[] = [];
    let roundMs = 0;
    let roundsRun = 0;
    for (let r = 0; r < settings.rounds; r++) {
      if (r > 0 && performance.now() - startedAt + roundMs > settings.timeLimitMs) {
        console.log(`  time limit: stopping after ${r} round(s)`);
        break;
      }
      const roundStart = performance.now();
      for (const stack of r % 2 === 0 ? stacks : [...stacks].reverse()) {
        const round = await measure(stack, r + 1, checks);
        rounds.get(stack.bus.id)!.push(round);
        console.log(
          `  round ${r + 1} (${stack.bus.id}) ${fmt(round.eventsPerSec, 0)} events/s flat out (outbox written at ${fmt(round.writtenPerSec, 0)}/s; ` +
            `CPU µs/event producer ${fmt(round.producerCpuUs, 0)}, consumer ${fmt(round.consumerCpuUs, 0)}` +
            `${stack.natsServer === undefined ? "" : `, nats-server ${fmt(round.natsServerCpuUs, 0)}`}); ` +
            `at ${fmt(round.offeredPerSec, 0)}/s lag p50/p99/max ${fmt(round.lagP50Ms, 2)}/${fmt(round.lagP99Ms, 2)}/${fmt(round.lagMaxMs, 1)} ms`,
        );
      }
      roundMs = performance.now() - roundStart;
      roundsRun++;
    }

    checks.push(...(await finalChecks(stacks)));
    report(rounds, roundsRun, checks, pinned, profiled !== undefined);
    if (checks.some((c) => !c.ok)) {
      throw new Error("the counts do not show every event's effect exactly once: see the checks above");
    }
  } catch (e) {
    console.error(e);
    exitCode = 1;
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    for (const server of natsServers) {
      server.kill("SIGTERM");
    }
    await Promise.all(natsServers.map((s) => (s.exitCode === null && s.signalCode === null ? new Promise((r) => s.once("exit", r)) : undefined)));
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
    clearLimit();
  }
  if (profileDir !== undefined) {
    printProfileSummaries(profileDir, root);
  }
  process.exit(exitCode);
}

/** Writes `count` events at `ratePerSec` (0: flat out), waits for all their effects, and reads both databases back. */
async function runPhase(stack: Stack, name: string, count: number, ratePerSec: number): Promise<{ written: WriteResult; reading: PhaseReading }> {
  const phase = `${name}${stack.phases++}`;
  const written = await stack.producer.write(phase, count, ratePerSec);
  stack.written += count;
  await stack.consumer.reach(stack.written);
  return { written, reading: readPhase(stack, phase) };
}

function readPhase(stack: Stack, phase: string): PhaseReading {
  const db = new Database(join(stack.dir, "producer.db"), { readonly: true });
  try {
    db.prepare("ATTACH DATABASE ? AS c").run(join(stack.dir, "consumer.db"));
    const events = (db.prepare("SELECT count(*) AS n FROM bench_orders WHERE phase = ?").get(phase) as { n: number }).n;
    const effects = db
      .prepare(
        `SELECT count(*) AS rows_, count(DISTINCT e.event_id) AS distinct_, min(o.committed_us) AS first_, max(e.effected_us) AS last_
         FROM bench_orders o JOIN c.bench_effects e ON e.event_id = o.event_id WHERE o.phase = ?`,
      )
      .get(phase) as { rows_: number; distinct_: number; first_: number; last_: number };
    const lags = db
      .prepare(
        `SELECT min(e.effected_us) - o.committed_us AS lag FROM bench_orders o JOIN c.bench_effects e ON e.event_id = o.event_id
         WHERE o.phase = ? GROUP BY o.event_id`,
      )
      .pluck()
      .all(phase) as number[];
    const lagUs = Float64Array.from(lags).sort();
    return { events, effectRows: effects.rows_, distinctEffects: effects.distinct_, lagUs, firstCommitUs: effects.first_, lastEffectUs: effects.last_ };
  } finally {
    db.close();
  }
}

function checkPhase(stack: Stack, label: string, count: number, reading: PhaseReading, checks: Check[]): void {
  const check = (what: string, measured: number): void => {
    checks.push({ bus: stack.bus.id, what: `${label}: ${what}`, expected: count, measured, ok: measured === count });
  };
  check("events written (state rows)", reading.events);
  check("effect rows", reading.effectRows);
  check("distinct events with an effect", reading.distinctEffects);
}

function cpuUs(stack: Stack): { producer: number; consumer: number; nats: number } {
  return {
    producer: procTreeCpuUs(stack.producer.pid),
    consumer: procTreeCpuUs(stack.consumer.pid),
    nats: stack.natsServer === undefined ? 0 : procTreeCpuUs(stack.natsServer.pid!),
  };
}

async function measure(stack: Stack, round: number, checks: Check[]): Promise<Round> {
  const rate = await runPhase(stack, "rate", settings.rateEvents, settings.ratePerSec);
  checkPhase(stack, `round ${round}, ${settings.ratePerSec}/s`, settings.rateEvents, rate.reading, checks);
  const before = cpuUs(stack);
  const flat = await runPhase(stack, "flat", settings.flatOutEvents, 0);
  const after = cpuUs(stack);
  checkPhase(stack, `round ${round}, flat out`, settings.flatOutEvents, flat.reading, checks);
  const n = settings.flatOutEvents;
  const lag = rate.reading.lagUs;
  return {
    eventsPerSec: n / ((flat.reading.lastEffectUs - flat.reading.firstCommitUs) / 1e6),
    writtenPerSec: flat.written.offeredPerSec,
    producerCpuUs: (after.producer - before.producer) / n,
    consumerCpuUs: (after.consumer - before.consumer) / n,
    natsServerCpuUs: (after.nats - before.nats) / n,
    offeredPerSec: rate.written.offeredPerSec,
    lagP50Ms: percentile(lag, 0.5) / 1000,
    lagP99Ms: percentile(lag, 0.99) / 1000,
    lagMaxMs: lag[lag.length - 1]! / 1000,
    txP50Us: rate.written.txP50Us,
  };
}

/** After a short settle: nothing left in the outboxes, every event once in the inbox and once in the effects, no dead letters. */
async function finalChecks(stacks: readonly Stack[]): Promise<Check[]> {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const checks: Check[] = [];
  for (const stack of stacks) {
    const db = new Database(join(stack.dir, "producer.db"), { readonly: true });
    try {
      db.prepare("ATTACH DATABASE ? AS c").run(join(stack.dir, "consumer.db"));
      const one = (sql: string): number => db.prepare(sql).pluck().get() as number;
      const check = (what: string, expected: number, measured: number): void => {
        checks.push({ bus: stack.bus.id, what: `all phases: ${what}`, expected, measured, ok: expected === measured });
      };
      check("events written (state rows)", stack.written, one("SELECT count(*) FROM bench_orders"));
      check("outbox rows unpublished", 0, one("SELECT count(*) FROM outbox WHERE published_at IS NULL"));
      check("inbox rows", stack.written, one("SELECT count(*) FROM c.inbox"));
      check("effect rows", stack.written, one("SELECT count(*) FROM c.bench_effects"));
      check("distinct events with an effect", stack.written, one("SELECT count(DISTINCT event_id) FROM c.bench_effects"));
      check(
        "state rows with their effect",
        stack.written,
        one("SELECT count(*) FROM bench_orders o WHERE EXISTS (SELECT 1 FROM c.bench_effects e WHERE e.event_id = o.event_id)"),
      );
      check("dead letters", 0, one("SELECT count(*) FROM c.dead_letters"));
    } finally {
      db.close();
    }
  }
  return checks;
}

function report(rounds: Map<BusId, Round[]>, roundsRun: number, checks: readonly Check[], pinned: boolean, profiling: boolean): void {
  const base = rounds.get("a")!;
  const summary = buses.map((bus) => {
    const list = rounds.get(bus.id)!;
    const median = (pick: (r: Round) => number): number => medianOf(list.map(pick));
    const ratio = (pick: (r: Round) => number): number => medianOf(list.map((r, i) => pick(r) / pick(base[i]!)));
    return {
      id: bus.id,
      label: bus.label,
      eventsPerSec: median((r) => r.eventsPerSec),
      eventsPerSecVsA: ratio((r) => r.eventsPerSec),
      writtenPerSec: median((r) => r.writtenPerSec),
      producerCpuUsPerEvent: median((r) => r.producerCpuUs),
      consumerCpuUsPerEvent: median((r) => r.consumerCpuUs),
      natsServerCpuUsPerEvent: median((r) => r.natsServerCpuUs),
      offeredPerSec: median((r) => r.offeredPerSec),
      /** The offered rate as a share of the flat-out rate, per round. */
      utilization: median((r) => r.offeredPerSec / r.eventsPerSec),
      lagP50Ms: median((r) => r.lagP50Ms),
      lagP99Ms: median((r) => r.lagP99Ms),
      lagMaxMs: median((r) => r.lagMaxMs),
      lagP50VsA: ratio((r) => r.lagP50Ms),
      lagP99VsA: ratio((r) => r.lagP99Ms),
      producerTxP50Us: median((r) => r.txP50Us),
      rounds: list,
    };
  });

  console.log();
  console.log(`Medians of ${roundsRun} round(s); (b)/(a) ratios are medians of per-round ratios.`);
  console.log();
  console.log(
    `| | bus | events/s flat out | (b)/(a) | ${settings.ratePerSec}/s of flat out | lag p50 ms at ${settings.ratePerSec}/s | (b)/(a) | lag p99 ms | (b)/(a) | lag max ms | ` +
      "CPU µs/event: producer / consumer / nats-server |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const s of summary) {
    const vs = (v: number): string => (s.id === "a" ? "" : fmt(v, 2));
    console.log(
      `| (${s.id}) | ${s.label} | ${fmt(s.eventsPerSec, 0)} | ${vs(s.eventsPerSecVsA)} | ${fmt(s.utilization * 100, 0)}% | ${fmt(s.lagP50Ms, 2)} | ${vs(s.lagP50VsA)} | ` +
        `${fmt(s.lagP99Ms, 2)} | ${vs(s.lagP99VsA)} | ${fmt(s.lagMaxMs, 1)} | ` +
        `${fmt(s.producerCpuUsPerEvent, 0)} / ${fmt(s.consumerCpuUsPerEvent, 0)} / ${s.id === "b" ? fmt(s.natsServerCpuUsPerEvent, 0) : "-"} |`,
    );
  }
  console.log();
  console.log(
    "Producer transaction (state row + outbox row + commit) p50: " +
      summary.map((s) => `(${s.id}) ${fmt(s.producerTxP50Us, 0)} µs`).join(", ") +
      "; both lag timestamps are taken just before their commits, so this bounds the error.",
  );
  console.log(
    `Load average at start ${fmt(loadAtStart[0]!, 1)}, at end ${fmt(loadavg()[0]!, 1)} ` +
      `(${machineCores} cores): above about 1 other work shared the cores and the absolute figures carry it.`,
  );
  console.log();
  console.log("Checks (read back from the producers' and consumers' databases):");
  console.log();
  console.log("| | what | expected | counted | |");
  console.log("|---|---|---:|---:|---|");
  for (const c of checks) {
    console.log(`| (${c.bus}) | ${c.what} | ${fmt(c.expected, 0)} | ${fmt(c.measured, 0)} | ${c.ok ? "ok" : "WRONG"} |`);
  }

  if (profiling) {
    console.log("\n--cpu-prof: results not written");
    return;
  }
  writeResults("events", {
    date: new Date().toISOString(),
    command: benchCommand(import.meta.url),
    argv: process.argv,
    node: process.version,
    versions: {
      nats: packageVersion("nats"),
      "better-sqlite3": packageVersion("better-sqlite3"),
      "nats-server": spawnSync(natsServerBinary, ["--version"], { encoding: "utf8" }).stdout.trim(),
    },
    machine: { cpu: cpus()[0]?.model, cores: machineCores, kernel: release() },
    pinned,
    placement: pinned ? { core0: ["producer", "nats-server"], core1: ["consumer", "bench parent"] } : "not pinned",
    loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
    settings,
    roundsRun,
    results: summary,
    checks,
  });
}

if (args.role !== undefined) {
  if (args.role !== "producer" && args.role !== "consumer") {
    fail("--role takes producer or consumer");
  }
  if (args.dir === undefined) {
    fail("--role needs --dir");
  }
  await runChild(args.role, args.dir);
} else {
  await runBench();
}
