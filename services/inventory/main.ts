// Wiring only: configuration from the environment, store, domain, handler,
// server, a sweeper that expires reservations past their TTL, and the event bus
// with the outbox relay that publishes stock events.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { InventoryService as InventoryServiceV2alpha1 } from "../../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import {
  createLogger,
  createMeshMetrics,
  envInt,
  envString,
  metricsEndpoint,
  registration,
  runUntilSignal,
  serve,
  storeCheck,
} from "../../mesh/index.js";
import { eventBusFromEnv, eventBusServices, startOutboxRelay, type OutboxRelay } from "../../mesh/events/index.js";
import { createInventoryV2alpha1Handler } from "./handler-v2alpha1.js";
import { inventoryStream } from "./events.js";
import { createInventoryHandler } from "./handler.js";
import { Inventory } from "./inventory.js";
import { openSqliteInventoryStore } from "./sqlite-store.js";
import { tracingFromEnv } from "../../mesh/telemetry/index.js";

const env = process.env;
const logger = createLogger("inventory", envString(env, "LOG_LEVEL", "info"));
// Traces: OTLP/HTTP export and sampling from the standard OTEL_* variables.
const tracing = tracingFromEnv(env, "inventory");
const dataDir = envString(env, "DATA_DIR", ".data");
// Prometheus metrics at GET /metrics on the service's own port.
const metrics = createMeshMetrics({ collectProcess: true });
mkdirSync(dataDir, { recursive: true });

// Stock events go out through the outbox: the relay is woken after each commit that wrote one.
let relay: OutboxRelay | undefined;
const store = openSqliteInventoryStore(path.join(dataDir, "inventory.db"), { onEventsCommitted: () => relay?.wake() });
// NATS JetStream when NATS_URL is set, else the embedded bus (served below).
const bus = await eventBusFromEnv(env, { name: "inventory", db: store.db, logger, streams: [inventoryStream] });
relay = startOutboxRelay({ db: store.db, bus, logger });
const inventory = new Inventory({
  store,
  defaultReservationTtlMs: envInt(env, "RESERVATION_TTL_SECONDS", 900, { min: 1, max: 3600 }) * 1000,
});
const sweeper = setInterval(() => inventory.expireDue(), envInt(env, "EXPIRY_SWEEP_MS", 1000, { min: 10 }));

const server = await serve({
  // v1 is stable; v2alpha1 is served beside it over the same domain while clients migrate.
  services: [
    registration(InventoryService, createInventoryHandler(inventory)),
    registration(InventoryServiceV2alpha1, createInventoryV2alpha1Handler(inventory)),
    // On the embedded bus, consumers read the stock events from this port.
    ...eventBusServices(bus),
  ],
  logger,
  tracer: tracing.tracer,
  interceptors: [metrics.serverInterceptor()],
  httpRoutes: [metricsEndpoint(metrics)],
  readiness: [storeCheck(store)],
  shutdownDelayMs: envInt(env, "SHUTDOWN_DELAY_MS", 0, { min: 0 }),
  // A leaf service: it calls no other service, so it has nothing to propagate.
  propagateDeadlines: false,
  port: envInt(env, "PORT", 50051, { min: 0, max: 65535 }),
  host: envString(env, "HOST", "127.0.0.1"),
});
logger.info({ url: server.url }, "serving");

runUntilSignal(async () => {
  // Events written from here on stay in the outbox for the next start.
  await relay.stop();
  await bus.close();
  await server.shutdown();
  clearInterval(sweeper);
  store.close();
  await tracing.provider.shutdown();
}, logger);
