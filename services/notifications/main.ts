// Wiring only: configuration from the environment, store, domain, the
// consumer of the orders stream (its handlers and dead letters), the event
// bus (embedded: pulled from orders' port; NATS when NATS_URL is set), and
// the server.
import { NotificationService } from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { deadLetterService, eventBusFromEnv, startConsumer } from "../../mesh/events/index.js";
import { envInt, envString, registration, runUntilSignal, serviceRuntime, storeCheck, storeFromEnv, testHook } from "../../mesh/index.js";
import { createNotificationDomain } from "./domain.js";
import { createNotificationHandler } from "./handler.js";
import { notificationsConsumer, orderEventHandlers, ordersStream } from "./order-events.js";
import { openNotificationStore } from "./open-store.js";

const runtime = serviceRuntime("notifications", process.env, { defaultPort: 50054 });
const { env, logger, tracing } = runtime;

// Test only: NOTIFICATIONS_TEST_FAIL_CUSTOMER=<customer id> makes every event
// about that customer's orders fail, to drive the dead-letter tests.
const failForCustomer = envString(env, "NOTIFICATIONS_TEST_FAIL_CUSTOMER", "");
if (failForCustomer !== "") {
  logger.warn({ NOTIFICATIONS_TEST_FAIL_CUSTOMER: failForCustomer }, "test fault armed: every event about this customer's orders fails");
}
// MESH_ENV=production refuses an armed test hook, with the runtime's own fallbacks.
runtime.refuseDevFallbacks(failForCustomer === "" ? [] : [testHook("NOTIFICATIONS_TEST_FAIL_CUSTOMER")]);

// SQLite under DATA_DIR, or PostgreSQL from DATABASE_URL / DATABASE_URL_FILE.
const store = await openNotificationStore(storeFromEnv(env, () => runtime.dataFile("notifications.db")), { logger });
const domain = createNotificationDomain(store);
const handlers = orderEventHandlers(domain, failForCustomer === "" ? {} : { failForCustomer });

// Only the embedded bus calls out (pulling from orders); those calls are not metered.
const clients = runtime.clients({ metered: false });
// NATS JetStream when NATS_URL is set, else the embedded bus, pulling the order events from orders' port.
const bus = await eventBusFromEnv(env, {
  name: "notifications",
  store: store.events,
  sources: { [ordersStream]: envString(env, "ORDERS_URL", runtime.localUrl(50053)) },
  clients,
  logger,
  streams: [ordersStream],
  tls: runtime.tls,
});
const consumer = startConsumer({
  bus,
  inbox: store.events.inbox,
  stream: ordersStream,
  durable: notificationsConsumer,
  handlers,
  maxAttempts: envInt(env, "NOTIFICATIONS_MAX_ATTEMPTS", 5, { min: 1 }),
  logger,
  tracer: tracing.tracer,
});

const server = await runtime.serve({
  services: [
    registration(NotificationService, createNotificationHandler(domain)),
    deadLetterService(store.events.inbox, { [notificationsConsumer]: { handlers } }),
  ],
  readiness: [storeCheck(store)],
});

runUntilSignal(async () => {
  await server.shutdown();
  await consumer.stop();
  await bus.close();
  clients.close();
  await store.close();
  await runtime.shutdown();
}, logger);
