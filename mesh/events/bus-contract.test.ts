import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { pino, type Logger } from "pino";
import { DeadLetterService } from "../../gen/meshwork/events/v1/dead_letters_pb.js";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { OrderConfirmedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { ClientFactory } from "../client/client-factory.js";
import { Code, ConnectError } from "../errors.js";
import { createLogger } from "../logger.js";
import { serve, type MeshServer } from "../server/serve.js";
import type { StoreLocation } from "../store/store-from-env.js";
import { openEventsDatabase, type EffectTx, type EventsDatabase } from "../../test/support/events-database.js";
import { freePort } from "../../test/support/free-port.js";
import { startNatsServer, type NatsServer } from "../../test/support/nats-server.js";
import { sharedPostgres } from "../../test/support/postgres-server.js";
import type { StoreEngine } from "../../test/support/store-engines.js";
import {
  connectNatsBus,
  createEmbeddedBus,
  createEnvelope,
  deadLetterService,
  eventBusServices,
  on,
  startConsumer,
  startOutboxRelay,
  type Delivery,
  type EventBus,
  type OutboxRelay,
} from "./index.js";
import { eventually } from "../../test/support/eventually.js";

const logger = createLogger("bus-contract-test", "silent");
const fast = { initialMs: 20, maxMs: 200 };

/**
 * What the shared cases need of a bus, whichever it is: a producer side that
 * publishes (and owns an outbox database with its relay), consumer sides
 * with their own databases, and a way to take the event source down and up.
 */
interface BusHarness {
  setUp(dir: string): Promise<void>;
  readonly producer: EventBus;
  /** The producer's database: outbox, and on the embedded bus its log. */
  readonly producerDb: EventsDatabase;
  readonly producerLocation: StoreLocation;
  /** A consumer-side bus on `db` that can subscribe to `stream`. */
  consumerBus(db: EventsDatabase, stream: string): Promise<EventBus>;
  /** Starts an outbox relay on the producer, restarted with it when the producer restarts. */
  startRelay(relayLogger?: Logger): OutboxRelay;
  /** The producer's current relay. */
  readonly relay: OutboxRelay;
  /**
   * Takes the event source down (embedded: the producer process's server,
   * bus, relay and database; NATS: nats-server), runs `whileDown`, and brings
   * it back on the same address and storage.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** Whether the producer (and its relay) keeps running through `restart`, as with NATS. */
  readonly producerSurvivesRestart: boolean;
  /** Environment for the crash child to reach the same bus. */
  childEnv(): Record<string, string>;
  tearDown(): Promise<void>;
}

/** A fresh database location for one of the test's databases, on the suite's engine. */
async function newLocation(engine: StoreEngine, dir: string, name: string): Promise<StoreLocation> {
  return engine === "sqlite"
    ? { engine, path: path.join(dir, `${name}.db`) }
    : { engine, url: await (await sharedPostgres()).createDatabase(name) };
}

/** What both harnesses keep alike: the producer's bus, database and relay, and the consumer buses to close. */
abstract class HarnessBase {
  protected dir = "";
  protected bus: EventBus | undefined;
  protected db: EventsDatabase | undefined;
  protected location: StoreLocation | undefined;
  protected currentRelay: OutboxRelay | undefined;
  protected consumers: EventBus[] = [];

  constructor(protected readonly engine: StoreEngine) {}

  get producer(): EventBus {
    return this.bus!;
  }
  get producerDb(): EventsDatabase {
    return this.db!;
  }
  get producerLocation(): StoreLocation {
    return this.location!;
  }
  get relay(): OutboxRelay {
    return this.currentRelay!;
  }

  startRelay(relayLogger: Logger = logger): OutboxRelay {
    this.currentRelay = startOutboxRelay({ outbox: this.db!.events.outbox, bus: this.bus!, logger: relayLogger, pollMs: 50, backoff: fast });
    return this.currentRelay;
  }

  protected async openProducerDb(dir: string): Promise<void> {
    this.dir = dir;
    this.location ??= await newLocation(this.engine, dir, "producer");
    this.db = await openEventsDatabase(this.location, "producer");
  }
}

class EmbeddedHarness extends HarnessBase implements BusHarness {
  readonly producerSurvivesRestart = false;
  private port = 0;
  private server: MeshServer | undefined;

  async setUp(dir: string): Promise<void> {
    this.dir = dir;
    this.port = await freePort();
    await this.startProducer();
  }

  async consumerBus(db: EventsDatabase, stream: string): Promise<EventBus> {
    const bus = createEmbeddedBus({ store: db.events, sources: { [stream]: this.server!.url }, logger, redelivery: fast, reconnect: fast });
    this.consumers.push(bus);
    return bus;
  }

  async restart(whileDown?: () => Promise<void>): Promise<void> {
    const hadRelay = this.currentRelay !== undefined;
    await this.stopProducer();
    await whileDown?.();
    await this.startProducer();
    if (hadRelay) {
      this.startRelay();
    }
  }

  childEnv(): Record<string, string> {
    return {};
  }

  async tearDown(): Promise<void> {
    await Promise.all(this.consumers.map((bus) => bus.close()));
    await this.stopProducer();
  }

  private async startProducer(): Promise<void> {
    await this.openProducerDb(this.dir);
    const bus = createEmbeddedBus({ store: this.db!.events, logger });
    this.bus = bus;
    this.server = await serve({ services: eventBusServices(bus), port: this.port, logger });
  }

  private async stopProducer(): Promise<void> {
    await this.currentRelay?.stop();
    this.currentRelay = undefined;
    await this.bus?.close();
    await this.server?.shutdown();
    await this.db?.close();
  }
}

class NatsHarness extends HarnessBase implements BusHarness {
  readonly producerSurvivesRestart = true;

  constructor(
    engine: StoreEngine,
    private readonly server: () => NatsServer,
  ) {
    super(engine);
  }

  async setUp(dir: string): Promise<void> {
    await this.openProducerDb(dir);
    this.bus = await this.connect("producer");
  }

  async consumerBus(): Promise<EventBus> {
    const bus = await this.connect("consumer");
    this.consumers.push(bus);
    return bus;
  }

  async restart(whileDown?: () => Promise<void>): Promise<void> {
    await this.server().stop();
    await whileDown?.();
    await this.server().restart();
  }

  childEnv(): Record<string, string> {
    return { NATS_URL: this.server().url };
  }

  async tearDown(): Promise<void> {
    await this.currentRelay?.stop();
    await Promise.all(this.consumers.map((bus) => bus.close()));
    await this.bus?.close();
    await this.db?.close();
  }

  private connect(name: string): Promise<EventBus> {
    return connectNatsBus({ servers: this.server().url, name, logger, publishTimeoutMs: 1_000, redelivery: fast });
  }
}

function event(orderId: string, id: string = randomUUID()): Envelope {
  return createEnvelope(OrderConfirmedSchema, { orderId }, { source: "meshwork.test", subject: orderId, id });
}

/** Records every delivery a subscription gets. */
function recorder(fail: (delivery: Delivery) => boolean = () => false) {
  const deliveries: { id: string; orderId: string; attempt: number }[] = [];
  return {
    deliveries,
    ids: () => deliveries.map((d) => d.orderId),
    handle: async (delivery: Delivery) => {
      const orderId = delivery.envelope.subject;
      deliveries.push({ id: delivery.envelope.id, orderId, attempt: delivery.attempt });
      if (fail(delivery)) {
        throw new Error(`refusing ${orderId} at attempt ${delivery.attempt}`);
      }
    },
  };
}

function range(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);
}

/** The ids in first-seen order, without repeats. */
function distinct(ids: string[]): string[] {
  return [...new Set(ids)];
}

function busContract(
  name: string,
  engine: StoreEngine,
  makeHarness: () => BusHarness,
  hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {},
): void {
  describe(`event bus contract: ${name}, stores on ${engine}`, function () {
    this.timeout(30_000);
    if (hooks.before !== undefined) {
      before(hooks.before);
    }
    if (hooks.after !== undefined) {
      after(hooks.after);
    }
    let dir: string;
    let harness: BusHarness;
    let stream: string;
    let n = 0;
    const opened: EventsDatabase[] = [];
    const openConsumerDb = async (label: string): Promise<EventsDatabase> => {
      const db = await openEventsDatabase(await newLocation(engine, dir, label), "consumer");
      opened.push(db);
      return db;
    };

    beforeEach(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-bus-"));
      harness = makeHarness();
      await harness.setUp(dir);
      n += 1;
      stream = `t${n}${randomUUID().slice(0, 6)}`.replace(/[^a-z0-9]/g, "x");
    });

    afterEach(async () => {
      await harness.tearDown();
      for (const db of opened.splice(0)) {
        await db.close();
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it("delivers events in publish order, those published before subscribing and after", async () => {
      for (const id of range("a", 1, 10)) {
        await harness.producer.publish(stream, event(id));
      }
      const consumer = await harness.consumerBus(await openConsumerDb("c"), stream);
      const seen = recorder();
      consumer.subscribe({ stream, durable: "ordering", handle: seen.handle });
      for (const id of range("a", 11, 20)) {
        await harness.producer.publish(stream, event(id));
      }
      await eventually("20 events", () => seen.deliveries.length >= 20);
      expect(seen.ids()).to.deep.equal(range("a", 1, 20));
    });

    it("drops a re-published event id", async () => {
      const first = event("a-1");
      await harness.producer.publish(stream, first);
      await harness.producer.publish(stream, first);
      await harness.producer.publish(stream, event("a-2"));
      const consumer = await harness.consumerBus(await openConsumerDb("c"), stream);
      const seen = recorder();
      consumer.subscribe({ stream, durable: "dedupe", handle: seen.handle });
      await eventually("a-2", () => seen.ids().includes("a-2"));
      expect(seen.ids()).to.deep.equal(["a-1", "a-2"]);
    });

    it("redelivers a rejected event, counting attempts, before any later one", async () => {
      await harness.producer.publish(stream, event("a-1"));
      await harness.producer.publish(stream, event("a-2"));
      const consumer = await harness.consumerBus(await openConsumerDb("c"), stream);
      const seen = recorder((d) => d.envelope.subject === "a-1" && d.attempt < 3);
      consumer.subscribe({ stream, durable: "redelivery", handle: seen.handle });
      await eventually("a-2", () => seen.ids().includes("a-2"));
      expect(seen.deliveries.map((d) => [d.orderId, d.attempt])).to.deep.equal([
        ["a-1", 1],
        ["a-1", 2],
        ["a-1", 3],
        ["a-2", 1],
      ]);
    });

    it("resumes a durable consumer after its restart from where it got to", async () => {
      for (const id of range("a", 1, 5)) {
        await harness.producer.publish(stream, event(id));
      }
      const db = await openConsumerDb("c");
      const before = recorder();
      const firstBus = await harness.consumerBus(db, stream);
      const first = firstBus.subscribe({ stream, durable: "resume", handle: before.handle });
      await eventually("5 events", () => before.deliveries.length >= 5);
      await first.stop();
      await firstBus.close();
      for (const id of range("a", 6, 10)) {
        await harness.producer.publish(stream, event(id));
      }
      const after = recorder();
      (await harness.consumerBus(db, stream)).subscribe({ stream, durable: "resume", handle: after.handle });
      await eventually("a-10", () => after.ids().includes("a-10"));
      // At least once: the last event handled before the stop may come again, nothing earlier.
      expect(after.ids().filter((id) => id !== "a-5")).to.deep.equal(range("a", 6, 10));
      expect(distinct([...before.ids(), ...after.ids()])).to.deep.equal(range("a", 1, 10));
    });

    it("loses no event when the event source goes down and comes back mid-run", async () => {
      const publishedDuringOutage: string[] = [];
      let relayFailures = 0;
      // Counts the relay's failed publishes from its log lines.
      const relayLogger = pino({ level: "warn" }, { write: () => (relayFailures += 1) });
      harness.startRelay(relayLogger);
      const write = async (ids: string[]): Promise<void> => {
        await harness.producerDb.writeOutbox(stream, ids.map((id) => event(id)));
        harness.relay.wake();
      };
      const consumer = await harness.consumerBus(await openConsumerDb("c"), stream);
      const seen = recorder();
      consumer.subscribe({ stream, durable: "outage", handle: seen.handle });
      await write(range("a", 1, 5));
      await eventually("5 events", () => seen.deliveries.length >= 5);
      await harness.restart(async () => {
        if (harness.producerSurvivesRestart) {
          // The producer runs on (NATS): it keeps writing, its relay cannot publish.
          await write(range("a", 6, 10));
          publishedDuringOutage.push(...range("a", 6, 10));
          await eventually("a failed publish", () => relayFailures > 0);
          expect(await harness.relay.pending()).to.equal(5);
        }
      });
      if (publishedDuringOutage.length === 0) {
        await write(range("a", 6, 10));
      }
      await write(range("a", 11, 15));
      await eventually("a-15", () => seen.ids().includes("a-15"));
      expect(distinct(seen.ids())).to.deep.equal(range("a", 1, 15));
      await eventually("an empty outbox", async () => (await harness.relay.pending()) === 0);
    });

    it("relays the outbox in order, marking a row only after the bus acknowledged it", async () => {
      let failuresLeft = 3;
      const published: string[] = [];
      const unpublishedAtEachTry: number[] = [];
      const flaky: EventBus = {
        publish: async (s, envelope) => {
          unpublishedAtEachTry.push(await harness.producerDb.unpublishedCount());
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error("bus unavailable");
          }
          await harness.producer.publish(s, envelope);
          published.push(envelope.subject);
        },
        subscribe: (options) => harness.producer.subscribe(options),
        close: async () => {},
      };
      await harness.producerDb.writeOutbox(stream, range("a", 1, 3).map((id) => event(id)));
      const relay = startOutboxRelay({ outbox: harness.producerDb.events.outbox, bus: flaky, logger, pollMs: 50, backoff: fast });
      try {
        await eventually("an empty outbox", async () => (await relay.pending()) === 0);
      } finally {
        await relay.stop();
      }
      // Three refusals of a-1 leave all three rows pending, then a-1, a-2, a-3
      // are tried in turn. A row is never marked before the bus acknowledged
      // it: at each try at least the rows not yet acknowledged are pending
      // (the relay marks a batch's rows together, after the last of them).
      const notYetAcknowledged = [3, 3, 3, 3, 2, 1];
      expect(unpublishedAtEachTry).to.have.length(notYetAcknowledged.length);
      unpublishedAtEachTry.forEach((pending, i) => expect(pending).to.be.at.least(notYetAcknowledged[i]!));
      expect(published).to.deep.equal(range("a", 1, 3));
      const consumer = await harness.consumerBus(await openConsumerDb("c"), stream);
      const seen = recorder();
      consumer.subscribe({ stream, durable: "relayed", handle: seen.handle });
      await eventually("3 events", () => seen.deliveries.length >= 3);
      expect(seen.ids()).to.deep.equal(range("a", 1, 3));
    });

    it("delivers an event whose producer was killed between commit and publish, with one effect", async () => {
      const eventId = randomUUID();
      const location = harness.producerLocation;
      const exit = await runCrashChild({
        ...(location.engine === "sqlite" ? { DB_PATH: location.path } : { DATABASE_URL: location.url }),
        STREAM: stream,
        EVENT_ID: eventId,
        ...harness.childEnv(),
      });
      expect(exit).to.equal("SIGKILL");
      expect(await harness.producerDb.unpublishedCount()).to.equal(1);
      const db = await openConsumerDb("c");
      const consumer = startConsumer({
        bus: await harness.consumerBus(db, stream),
        inbox: db.events.inbox,
        stream,
        durable: "crash",
        logger,
        handlers: [effectHandler()],
      });
      harness.startRelay();
      await eventually("the effect", async () => (await db.effects()).length >= 1);
      await eventually("an empty outbox", async () => (await harness.relay.pending()) === 0);
      // Publishing it again (a relay that crashed after publish) has no second effect.
      await harness.producer.publish(stream, event("ord-after"));
      await eventually("the next effect", async () => (await db.effects()).includes("ord-after"));
      await consumer.stop();
      expect(await db.effects()).to.deep.equal(["ord-crash", "ord-after"]);
      expect(await db.inboxSize("crash")).to.equal(2);
    });

    it("has one effect when the bus delivers an event twice", async () => {
      const db = await openConsumerDb("c");
      const bus = await harness.consumerBus(db, stream);
      const twice: EventBus = {
        publish: (s, e) => bus.publish(s, e),
        subscribe: (options) =>
          bus.subscribe({
            ...options,
            handle: async (delivery) => {
              await options.handle(delivery);
              await options.handle({ envelope: delivery.envelope, attempt: delivery.attempt + 1 });
            },
          }),
        close: () => bus.close(),
      };
      startConsumer({
        bus: twice,
        inbox: db.events.inbox,
        stream,
        durable: "twice",
        logger,
        handlers: [effectHandler()],
      });
      for (const id of range("a", 1, 3)) {
        await harness.producer.publish(stream, event(id));
      }
      await eventually("3 effects", async () => (await db.effects()).length >= 3 && (await db.inboxSize("twice")) >= 3);
      await harness.producer.publish(stream, event("a-4"));
      await eventually("a-4", async () => (await db.effects()).includes("a-4"));
      expect(await db.effects()).to.deep.equal(range("a", 1, 4));
    });

    it("dead-letters a poison event after maxAttempts, lists it, and replays it once fixed", async () => {
      const db = await openConsumerDb("c");
      let broken = true;
      const handlers = [
        on(OrderConfirmedSchema, async (data, envelope, tx: EffectTx) => {
          if (data.orderId === "poison" && broken) {
            throw new Error("cannot handle poison");
          }
          await tx.recordEffect(data.orderId, envelope.id);
        }),
      ];
      const attempts: number[] = [];
      const bus = await harness.consumerBus(db, stream);
      const counting: EventBus = {
        publish: (s, e) => bus.publish(s, e),
        subscribe: (options) =>
          bus.subscribe({
            ...options,
            handle: (delivery) => {
              if (delivery.envelope.subject === "poison") {
                attempts.push(delivery.attempt);
              }
              return options.handle(delivery);
            },
          }),
        close: () => bus.close(),
      };
      startConsumer({ bus: counting, inbox: db.events.inbox, stream, durable: "shop", handlers, maxAttempts: 3, logger });
      const poison = event("poison");
      await harness.producer.publish(stream, poison);
      await harness.producer.publish(stream, event("a-1"));
      await eventually("a-1's effect", async () => (await db.effects()).includes("a-1"));
      expect(attempts).to.deep.equal([1, 2, 3]);
      expect(await db.effects()).to.deep.equal(["a-1"]);

      const server = await serve({ services: [deadLetterService(db.events.inbox, { shop: { handlers } })], port: 0, logger });
      const clients = new ClientFactory();
      try {
        const client = clients.client(DeadLetterService, { endpoints: server.url, retry: false });
        const listed = await client.listDeadLetters({ consumer: "shop" });
        expect(listed.deadLetters.map((d) => [d.consumer, d.envelope?.id, d.attempts, d.lastError])).to.deep.equal([
          ["shop", poison.id, 3, "cannot handle poison"],
        ]);
        expect((await client.listDeadLetters({ consumer: "other" })).deadLetters).to.deep.equal([]);

        const failed = await client.replayDeadLetter({ consumer: "shop", eventId: poison.id });
        expect([failed.handled, failed.error]).to.deep.equal([false, "cannot handle poison"]);
        expect((await client.listDeadLetters({})).deadLetters.map((d) => d.attempts)).to.deep.equal([4]);

        broken = false;
        const replayed = await client.replayDeadLetter({ consumer: "shop", eventId: poison.id });
        expect(replayed.handled).to.equal(true);
        expect((await client.replayDeadLetter({ consumer: "shop", eventId: poison.id })).handled).to.equal(true);
        expect(await db.effects()).to.deep.equal(["a-1", "poison"]);
        expect((await client.listDeadLetters({})).deadLetters).to.deep.equal([]);
        const unknown = await client.replayDeadLetter({ consumer: "shop", eventId: "nope" }).catch((e: unknown) => e);
        expect(ConnectError.from(unknown).code).to.equal(Code.NotFound);
      } finally {
        clients.close();
        await server.shutdown();
      }
    });
  });
}

/** The consumers' handler: one effect row per event, in the inbox's transaction. */
function effectHandler() {
  return on(OrderConfirmedSchema, (data, envelope, tx: EffectTx) => tx.recordEffect(data.orderId, envelope.id));
}

/** Runs the crash child and resolves with the signal that ended it (or its exit code). */
function runCrashChild(env: Record<string, string>): Promise<string> {
  const script = path.join(import.meta.dirname, "outbox-crash-child.fixture.ts");
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`)),
  );
}

busContract("embedded", "sqlite", () => new EmbeddedHarness("sqlite"));
busContract("embedded", "postgres", () => new EmbeddedHarness("postgres"));

let nats: NatsServer | undefined;
busContract("NATS JetStream", "sqlite", () => new NatsHarness("sqlite", () => nats!), {
  before: async () => {
    // The bus's contract, not access: an open server (the mesh's own, with
    // TLS and per-workload permissions, is tested in test/e2e).
    nats = await startNatsServer({ cleartext: true });
  },
  after: async () => {
    await nats?.dispose();
  },
});
