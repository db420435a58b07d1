// Wiring only: configuration from the environment, store, simulated card
// processor, domain, handler and server.
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { envInt, registration, runUntilSignal, serviceRuntime, storeCheck, storeFromEnv } from "../../mesh/index.js";
import { createPaymentHandler } from "./handler.js";
import { Payments } from "./payments.js";
import { createSimulatedCardProcessor } from "./simulated-card-processor.js";
import { openPaymentStore } from "./open-store.js";

const runtime = serviceRuntime("payments", process.env, { defaultPort: 50052 });
const { env, logger } = runtime;

// SQLite under DATA_DIR, or PostgreSQL from DATABASE_URL / DATABASE_URL_FILE.
const store = await openPaymentStore(storeFromEnv(env, () => runtime.dataFile("payments.db")), { logger });
const payments = new Payments({
  store,
  processor: createSimulatedCardProcessor({ maxDelayMs: envInt(env, "PAYMENTS_MAX_SLOW_MS", 30_000, { min: 0 }) }),
});

const server = await runtime.serve({
  services: [registration(PaymentService, createPaymentHandler(payments))],
  readiness: [storeCheck(store)],
  // A leaf service: it calls no other service, so it has nothing to propagate.
  propagateDeadlines: false,
});

runUntilSignal(async () => {
  await server.shutdown();
  await store.close();
  await runtime.shutdown();
}, logger);
