// Wiring only: configuration from the environment, store, the card processor
// PAYMENT_PROCESSOR selects, domain, handler and server.
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { envChoice, envInt, registration, runUntilSignal, serviceRuntime, storeCheck, storeFromEnv } from "../../mesh/index.js";
import type { CardProcessor } from "./card-processor.js";
import { createPaymentHandler } from "./handler.js";
import { Payments } from "./payments.js";
import { createSimulatedCardProcessor } from "./simulated-card-processor.js";
import { openPaymentStore } from "./open-store.js";

const runtime = serviceRuntime("payments", process.env, { defaultPort: 50052 });
const { env, logger } = runtime;

// The card network is a port (card-processor.ts); PAYMENT_PROCESSOR names
// the implementation. The simulated one is the only one shipped: its test
// tokens let anyone approve, decline or fail a payment, so it is chosen by
// name, and left unset it is chosen with a warning.
const processors: Record<string, () => CardProcessor> = {
  simulated: () => createSimulatedCardProcessor({ maxDelayMs: envInt(env, "PAYMENTS_MAX_SLOW_MS", 30_000, { min: 0 }) }),
};
const chosen = envChoice(env, "PAYMENT_PROCESSOR", Object.keys(processors), "");
if (chosen === "") {
  logger.warn(
    "PAYMENT_PROCESSOR unset: using the simulated card processor, whose test tokens approve, decline and fail payments for anyone; set PAYMENT_PROCESSOR=simulated to choose it",
  );
}
const processorName = chosen === "" ? "simulated" : chosen;
// MESH_ENV=production refuses the simulated processor, with the runtime's own fallbacks.
runtime.refuseDevFallbacks(
  processorName === "simulated"
    ? [{ variable: "PAYMENT_PROCESSOR", fallback: `${chosen === "" ? "unset" : "simulated"}: the simulated card processor, whose test tokens approve, decline and fail for anyone` }]
    : [],
);
logger.info({ payment_processor: processorName }, "card processor selected");

// SQLite under DATA_DIR, or PostgreSQL from DATABASE_URL / DATABASE_URL_FILE.
const store = await openPaymentStore(storeFromEnv(env, () => runtime.dataFile("payments.db")), { logger });
const payments = new Payments({ store, processor: processors[processorName]!() });

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
