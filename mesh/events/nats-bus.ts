import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  Events,
  StorageType,
  nanos,
  type ConnectionOptions,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from "nats";
import type { Logger } from "pino";
import { EnvelopeSchema } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { checkServerIdentity } from "../identity/server-identity.js";
import { backoffDelay, sleep, type BackoffOptions } from "./backoff.js";
import type { EventBus, SubscribeOptions, Subscription } from "./event-bus.js";

export interface NatsBusOptions {
  /** One server URL ("nats://127.0.0.1:4222") or several, comma-separated or as a list. */
  readonly servers: string | readonly string[];
  /** The connection's name as the server shows it, e.g. "orders". */
  readonly name: string;
  readonly logger: Logger;
  /**
   * Streams to make sure of at connect time, e.g. ["orders"]; any other is
   * made on its first publish or subscribe. Default: none.
   */
  readonly streams?: readonly string[];
  /**
   * Copies JetStream keeps of each stream this bus makes (its consumers
   * follow the stream), on as many servers of the cluster: 3 on a
   * three-node cluster keeps every event through the loss of one node.
   * Default: 1, a single server. A stream that exists keeps its settings.
   */
  readonly streamReplicas?: number;
  /**
   * TLS with this process's workload certificate, for a server whose config
   * maps certificates to users (natsServerConfig): the certificate is the
   * connection's credential and its SPIFFE id its user, whose subject
   * permissions the server enforces. The server must present
   * spiffe://<trust domain>/service/nats. Files are read again on every
   * (re)connect, so a renewed certificate is used from the next connection.
   * Default: none (cleartext).
   */
  readonly tls?: NatsTlsOptions;
  /**
   * How long a publish waits for JetStream's acknowledgement. Default: 5 s,
   * the client's own default; while the server is down a publish fails after
   * it and the outbox relay tries again.
   */
  readonly publishTimeoutMs?: number;
  /**
   * Delay before JetStream redelivers an event whose handler rejected
   * (a NAK with delay), by delivery number. Default: 200 ms doubling up to 10 s.
   */
  readonly redelivery?: BackoffOptions;
}

/**
 * How long the server waits for an ack before redelivering: longer than any
 * handler should run (handlers are local SQLite transactions).
 */
const ackWaitMs = 30_000;
/** Publishes of one event id within this window are stored once (Nats-Msg-Id). */
const duplicateWindowMs = 2 * 60_000;

/** The JetStream stream of a domain stream: "orders" -> MESHWORK_ORDERS, subjects "orders.>". */
export function jetStreamName(stream: string): string {
  return `MESHWORK_${stream.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/**
 * The event bus on NATS JetStream: a file-backed stream per domain (so events
 * survive server restarts), events published as protobuf binary Envelopes to
 * `<stream>.<short type name>` with the envelope id as Nats-Msg-Id (the
 * server drops a re-publish within the duplicate window; consumers' inboxes
 * cover any later one), and each subscription a durable pull consumer with
 * explicit acks and one event in flight, so that events arrive in order. A
 * rejected event is NAKed with a growing delay and comes back with a higher
 * delivery count; an unacknowledged one comes back after the ack wait.
 *
 * The connection reconnects forever: while the server is down publishes fail
 * (the outbox relay retries) and consumers wait, then resume from the
 * server-kept position. Fails at once if no server can be reached at start.
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<EventBus> {
  const { logger, name } = options;
  const servers = typeof options.servers === "string" ? options.servers.split(",").map((s) => s.trim()) : [...options.servers];
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  const redelivery = options.redelivery ?? { initialMs: 200, maxMs: 10_000 };
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      ...(options.tls === undefined ? {} : { tls: natsTls(options.tls) }),
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${servers.join(",")}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  void watchStatus(nc, logger);
  const jsm: JetStreamManager = await nc.jetstreamManager();
  const js: JetStreamClient = nc.jetstream({ timeout: publishTimeoutMs });

  const ensured = new Map<string, Promise<void>>();
  const ensureStream = (stream: string): Promise<void> => {
    let ready = ensured.get(stream);
    if (ready === undefined) {
      ready = addStream(jsm, stream, options.streamReplicas ?? 1).catch((err: unknown) => {
        ensured.delete(stream);
        throw err;
      });
      ensured.set(stream, ready);
    }
    return ready;
  };
  await Promise.all((options.streams ?? []).map(ensureStream));

  const subscriptions = new Set<Subscription>();

  const subscribe = ({ stream, durable, handle }: SubscribeOptions): Subscription => {
    const stopping = new AbortController();
    const child = logger.child({ stream, durable });
    let messages: ConsumerMessages | undefined;

    const run = async (): Promise<void> => {
      let failures = 0;
      while (!stopping.signal.aborted) {
        try {
          await ensureStream(stream);
          await addConsumer(jsm, stream, durable);
          const consumer = await js.consumers.get(jetStreamName(stream), durable);
          messages = await consumer.consume({ max_messages: 1 });
          if (stopping.signal.aborted) {
            break;
          }
          for await (const message of messages) {
            failures = 0;
            const attempt = message.info.redeliveryCount;
            try {
              await handle({ envelope: fromBinary(EnvelopeSchema, message.data), attempt });
            } catch (err) {
              const delayMs = backoffDelay(redelivery, attempt);
              child.debug({ err, attempt, delayMs }, "handler rejected the event; redelivering");
              message.nak(delayMs);
              continue;
            }
            // Wait for the server to confirm the ack, so that a stop or a
            // restart right after does not hand the event out again. If the
            // confirmation is lost (server down), the redelivery is harmless.
            await message.ackAck().catch((err: unknown) => child.debug({ err }, "ack not confirmed"));
          }
          if (stopping.signal.aborted) {
            break;
          }
          // The library ended the consume loop (consumer or stream gone, connection closed).
          failures += 1;
          child.warn({ failures }, "event consumer ended; starting it again");
        } catch (err) {
          if (stopping.signal.aborted) {
            break;
          }
          failures += 1;
          (failures === 1 ? child.warn.bind(child) : child.debug.bind(child))({ err, failures }, "event consumer failed; retrying");
        }
        await sleep(backoffDelay({ initialMs: 100, maxMs: 5_000 }, failures), stopping.signal);
      }
    };

    const running = run().catch((err: unknown) => child.error({ err }, "NATS consumer stopped on an unexpected error"));
    const subscription: Subscription = {
      async stop() {
        stopping.abort();
        await messages?.close();
        await running;
        subscriptions.delete(subscription);
      },
    };
    subscriptions.add(subscription);
    return subscription;
  };

  return {
    async publish(stream, envelope) {
      await ensureStream(stream);
      await js.publish(`${stream}.${shortTypeName(envelope.type)}`, toBinary(EnvelopeSchema, envelope), {
        msgID: envelope.id,
        timeout: publishTimeoutMs,
      });
    },
    subscribe,
    async close() {
      await Promise.all([...subscriptions].map((s) => s.stop()));
      await nc.drain().catch(() => nc.close());
    },
  };
}

/** "meshwork.orders.v1.OrderConfirmed" -> "OrderConfirmed": the subject's last token. */
function shortTypeName(type: string): string {
  const short = type.slice(type.lastIndexOf(".") + 1);
  return /^[A-Za-z0-9_-]+$/.test(short) ? short : "event";
}

/** Makes the domain's stream unless it exists (whatever its current settings). */
async function addStream(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const name = jetStreamName(stream);
  try {
    await jsm.streams.info(name);
    return;
  } catch (err) {
    if (!isNotFound(err)) {
      throw err;
    }
  }
  await jsm.streams.add({
    name,
    subjects: [`${stream}.>`],
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: nanos(duplicateWindowMs),
  });
}

/** Makes the durable pull consumer unless it exists: explicit acks, one in flight, from the stream's start. */
async function addConsumer(jsm: JetStreamManager, stream: string, durable: string): Promise<void> {
  const name = jetStreamName(stream);
  try {
    await jsm.consumers.info(name, durable);
    return;
  } catch (err) {
    if (!isNotFound(err)) {
      throw err;
    }
  }
  await jsm.consumers.add(name, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs),
    max_ack_pending: 1,
    deliver_policy: DeliverPolicy.All,
  });
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

async function watchStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === Events.Disconnect || status.type === Events.Reconnect) {
      logger.info({ nats: status.type, server: status.data }, `NATS ${status.type}`);
    }
  }
}

/** A NATS client's mTLS: its own certificate files, and the trust domain whose nats identity the server must have. */
export interface NatsTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly trustDomain: string;
}

/** The workload name a NATS server's certificate carries (spiffe://<trust domain>/service/nats). */
export const natsServerIdentity = "nats";

function natsTls(options: NatsTlsOptions): NonNullable<ConnectionOptions["tls"]> {
  // nats.js hands these to tls.connect: checkServerIdentity replaces the
  // host-name check with the SPIFFE id check, as for every mesh client.
  return {
    certFile: options.certFile,
    keyFile: options.keyFile,
    caFile: options.caFile,
    checkServerIdentity: checkServerIdentity(options.trustDomain, natsServerIdentity),
  } as NonNullable<ConnectionOptions["tls"]>;
}
