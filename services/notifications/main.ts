// Wiring only: configuration from the environment, store, domain, the
// consumer of the orders stream (its handlers and dead letters), the event
// bus (embedded: pulled from orders' port; NATS when NATS_URL is set), and
// the server.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { NotificationService } from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { deadLetterService, eventBusFromEnv, startConsumer } from "../../mesh/events/index.js";
import {
  ClientFactory,
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
import { tracingFromEnv } from "../../mesh/telemetry/index.js";
import { createNotificationDomain } from "./domain.js";
import { createNotificationHandler } from "./handler.js";
import { notificationsConsumer, orderEventHandlers, ordersStream } from "./order-events.js";
import { openSqliteNotificationStore } from "./sqlite-store.js";

const env = process.env;
const logger = createLogger("notifications", envString(env, "LOG_LEVEL", "info"));
// Traces: OTLP/HTTP export and sampling from the standard OTEL_* variables.
const tracing = tracingFromEnv(env, "notifications");
const dataDir = envString(env, "DATA_DIR", ".data");
// Prometheus metrics at GET /metrics on the service's own port.
const metrics = createMeshMetrics({ collectProcess: true });
mkdirSync(dataDir, { recursive: true });

const store = openSqliteNotificationStore(path.join(dataDir, "notifications.db"));
const domain = createNotificationDomain(store);
// Test only: NOTIFICATIONS_TEST_FAIL_CUSTOMER=<customer id> makes every event
// about that customer's orders fail, to drive the dead-letter tests.
const failForCustomer = envString(env, "NOTIFICATIONS_TEST_FAIL_CUSTOMER", "");
const handlers = orderEventHandlers(domain, failForCustomer === "" ? {} : { failForCustomer });

const clients = new ClientFactory({ tracer: tracing.tracer });
// NATS JetStream when NATS_URL is set, else the embedded bus, pulling the order events from orders' port.
const bus = await eventBusFromEnv(env, {
  name: "notifications",
  db: store.db,
  sources: { [ordersStream]: envString(env, "ORDERS_URL", "http://127.0.0.1:50053") },
  clients,
  logger,
  streams: [ordersStream],
});
const consumer = startConsumer({
  bus,
  db: store.db,
  stream: ordersStream,
  durable: notificationsConsumer,
  handlers,
  maxAttempts: envInt(env, "NOTIFICATIONS_MAX_ATTEMPTS", 5, { min: 1 }),
  logger,
  tracer: tracing.tracer,
});

const server = await serve({
  services: [
    registration(NotificationService, createNotificationHandler(domain)),
    deadLetterService(store.db, { [notificationsConsumer]: { handlers } }),
  ],
  logger,
  tracer: tracing.tracer,
  interceptors: [metrics.serverInterceptor()],
  httpRoutes: [metricsEndpoint(metrics)],
  readiness: [storeCheck(store)],
  shutdownDelayMs: envInt(env, "SHUTDOWN_DELAY_MS", 0, { min: 0 }),
  port: envInt(env, "PORT", 50054, { min: 0, max: 65535 }),
  host: envString(env, "HOST", "127.0.0.1"),
});
logger.info({ url: server.url }, "serving");

runUntilSignal(async () => {
  await server.shutdown();
  await consumer.stop();
  await bus.close();
  clients.close();
  store.close();
  await tracing.provider.shutdown();
}, logger);
