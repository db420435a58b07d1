import type { Logger } from "pino";
import type { ClientFactory } from "../client/client-factory.js";
import { envInt, type Env } from "../env.js";
import type { WorkloadCredentials } from "../identity/workload-credentials.js";
import { createEmbeddedBus } from "./embedded-bus.js";
import type { EventBus } from "./event-bus.js";
import type { ConsumerPositionStore, EventLogStore } from "./event-stores.js";
import { connectNatsBus } from "./nats-bus.js";

export interface EventBusFromEnvOptions {
  /** The process's name: its NATS connection name. */
  readonly name: string;
  /** The process's own database (embedded bus: its event log and consumer positions): its store's `events`. */
  readonly store: { readonly eventLog: EventLogStore; readonly positions: ConsumerPositionStore };
  /** Embedded bus: the producer of each stream the process consumes, e.g. { orders: ORDERS_URL }. */
  readonly sources?: Readonly<Record<string, string>>;
  /** Embedded bus: makes the clients to the sources. */
  readonly clients?: ClientFactory;
  readonly logger: Logger;
  /** NATS: streams to make sure of at start. */
  readonly streams?: readonly string[];
  /**
   * NATS: the process's workload credentials (ServiceRuntime.tls). With a
   * tls:// NATS_URL the connection presents them, and the server maps the
   * certificate's identity to the process's subject permissions.
   */
  readonly tls?: WorkloadCredentials;
}

const natsUrlPattern = /^(nats|tls):\/\/[^\s/,]+$/;

/**
 * The bus a process's configuration asks for: NATS JetStream when NATS_URL is
 * set (one URL or a comma-separated list, nats://host:port), else the
 * embedded bus; NATS_STREAM_REPLICAS (default 1) copies of each stream it
 * makes, on a cluster. A malformed NATS_URL, or a NATS server that cannot be reached
 * at start, stops the process with a message naming the variable.
 */
export async function eventBusFromEnv(env: Env, options: EventBusFromEnvOptions): Promise<EventBus> {
  const raw = env["NATS_URL"]?.trim();
  if (raw === undefined || raw === "") {
    return createEmbeddedBus({
      store: options.store,
      logger: options.logger,
      ...(options.sources === undefined ? {} : { sources: options.sources }),
      ...(options.clients === undefined ? {} : { clients: options.clients }),
    });
  }
  const servers = raw.split(",").map((s) => s.trim());
  const bad = servers.find((s) => !natsUrlPattern.test(s));
  if (bad !== undefined) {
    throw new Error(`NATS_URL=${raw}: "${bad}" is not a NATS URL (expected tls://host:port or nats://host:port, comma-separated)`);
  }
  const streamReplicas = envInt(env, "NATS_STREAM_REPLICAS", 1, { min: 1, max: 5 });
  const secure = servers.every((s) => s.startsWith("tls://"));
  if (options.tls !== undefined && !secure) {
    options.logger.warn({ nats_url: raw }, "NATS_URL is not tls://: events travel in cleartext and without credentials");
  }
  try {
    return await connectNatsBus({
      servers,
      name: options.name,
      logger: options.logger,
      ...(options.streams === undefined ? {} : { streams: options.streams }),
      streamReplicas,
      ...(options.tls === undefined || !secure
        ? {}
        : { tls: { ...options.tls.files, trustDomain: options.tls.current.id.trustDomain } }),
    });
  } catch (err) {
    throw new Error(`NATS_URL=${raw}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
