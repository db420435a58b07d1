// Wiring only: configuration from the environment, store, typed clients of
// inventory and payments (from the mesh's client factory), domain, handler,
// server, the loop that resumes sagas a restart or an outage left PENDING, and
// the event bus with the outbox relay that publishes order events.
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import {
  breakersCheck,
  envChoice,
  envInt,
  envString,
  envTargetEndpoints,
  registration,
  runUntilSignal,
  serviceRuntime,
  storeCheck,
  storeFromEnv,
  testHook,
} from "../../mesh/index.js";
import { eventBusFromEnv, eventBusServices, startOutboxRelay, type OutboxRelay } from "../../mesh/events/index.js";
import { fileFeatureFlags, noFeatureFlags } from "../../mesh/flags/index.js";
import { createOrderDomain } from "./domain.js";
import { ordersStream } from "./events.js";
import { createOrderHandler } from "./handler.js";
import { parseSagaCrashPoint } from "./saga.js";
import { openOrderStore } from "./open-store.js";
import { inventoryPort, paymentsPort } from "./upstream.js";

const runtime = serviceRuntime("orders", process.env, { defaultPort: 50053 });
const { env, logger } = runtime;

// Test only: OUTBOX_TEST_CRASH=before-publish makes the relay SIGKILL this
// process before its first publish (test/e2e/events.test.ts).
const outboxCrash = envChoice(env, "OUTBOX_TEST_CRASH", ["before-publish"], "") === "before-publish";
if (outboxCrash) {
  logger.warn({ OUTBOX_TEST_CRASH: "before-publish" }, "test fault armed: the outbox relay kills this process before its first publish");
}
// Test only: SAGA_TEST_CRASH_AT=<point> makes the process SIGKILL itself when a
// saga reaches that point (saga.ts lists them), for the crash-recovery tests.
const crashAt = envString(env, "SAGA_TEST_CRASH_AT", "");
const testCrashAt = crashAt === "" ? undefined : parseSagaCrashPoint(crashAt);
if (testCrashAt !== undefined) {
  logger.warn({ SAGA_TEST_CRASH_AT: testCrashAt }, "test fault armed: this process kills itself when a saga reaches this point");
}
// MESH_ENV=production refuses an armed test hook, with the runtime's own fallbacks.
runtime.refuseDevFallbacks([...(outboxCrash ? [testHook("OUTBOX_TEST_CRASH")] : []), ...(testCrashAt === undefined ? [] : [testHook("SAGA_TEST_CRASH_AT")])]);

// Order events go out through the outbox: the relay is woken after each commit that wrote one.
let relay: OutboxRelay | undefined;
// SQLite under DATA_DIR, or PostgreSQL from DATABASE_URL / DATABASE_URL_FILE (replicas share it).
const store = await openOrderStore(storeFromEnv(env, () => runtime.dataFile("orders.db")), {
  onEventsCommitted: () => relay?.wake(),
  logger,
});
// NATS JetStream when NATS_URL is set, else the embedded bus (served below).
const bus = await eventBusFromEnv(env, { name: "orders", store: store.events, logger, streams: [ordersStream], tls: runtime.tls });
relay = startOutboxRelay({ outbox: store.events.outbox, bus, logger, testCrashBeforeFirstPublish: outboxCrash });
const clients = runtime.clients();
const breaker = {
  volumeThreshold: envInt(env, "BREAKER_VOLUME_THRESHOLD", 10, { min: 1 }),
  resetTimeoutMs: envInt(env, "BREAKER_RESET_MS", 5_000, { min: 10 }),
};
const inventory = clients.client(InventoryService, {
  name: "inventory",
  ...envTargetEndpoints(env, "INVENTORY_URL", runtime.localUrl(50051)),
  breaker,
});
const payments = clients.client(PaymentService, {
  name: "payments",
  ...envTargetEndpoints(env, "PAYMENTS_URL", runtime.localUrl(50052)),
  breaker,
  // A card authorization may legitimately take long (tok_slow_<ms> simulates
  // up to 30 s); everything else answers in milliseconds.
  timeouts: {
    defaultTimeoutMs: 5_000,
    methodTimeoutsMs: { [`${PaymentService.typeName}/${PaymentService.method.authorizePayment.name}`]: 35_000 },
  },
});
// Clients made: the routes file's rules (MESH_ROUTES_FILE) are checked against their versions.
runtime.watchRoutes();
// Pricing rules rolled out behind feature flags (FEATURE_FLAGS_FILE, flagd's
// format, reloaded on change); without a file every flag is off.
const flagsFile = envString(env, "FEATURE_FLAGS_FILE", "");
const flags = flagsFile === "" ? noFeatureFlags : await fileFeatureFlags({ file: flagsFile, domain: "orders", logger });
const pricingRules = { bulkPricing: (customerId: string) => flags.boolean("bulk-pricing", false, { customerId }) };
const domain = createOrderDomain(
  { store, inventory: inventoryPort(inventory), payments: paymentsPort(payments), pricingRules },
  { logger, testCrashAt, sagaLeaseMs: envInt(env, "SAGA_LEASE_MS", 10_000, { min: 30 }) },
);

const server = await runtime.serve({
  // On the embedded bus, consumers read the order events from this port.
  services: [registration(OrderService, createOrderHandler(domain)), ...eventBusServices(bus)],
  // GET /readyz: the store answers and neither upstream looks down.
  readiness: [storeCheck(store), breakersCheck(clients, "inventory"), breakersCheck(clients, "payments")],
});

// One resume pass at a time, so shutdown can wait for the one running.
let resuming: Promise<unknown> | undefined;
const resume = (): void => {
  resuming ??= domain
    .resumePending()
    .catch((err: unknown) => logger.error({ err }, "resuming sagas failed"))
    .finally(() => (resuming = undefined));
};
resume();
const resumer = setInterval(resume, envInt(env, "SAGA_RESUME_MS", 5000, { min: 100 }));

runUntilSignal(async () => {
  clearInterval(resumer);
  // Events written from here on stay in the outbox for the next start.
  await relay.stop();
  await bus.close();
  await server.shutdown();
  await resuming;
  clients.close();
  await flags.close();
  await store.close();
  await runtime.shutdown();
}, logger);
