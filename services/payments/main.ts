// Wiring only: configuration from the environment, store, simulated card
// processor, domain, handler and server.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
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
import { createPaymentHandler } from "./handler.js";
import { Payments } from "./payments.js";
import { createSimulatedCardProcessor } from "./simulated-card-processor.js";
import { openSqlitePaymentStore } from "./sqlite-store.js";
import { tracingFromEnv } from "../../mesh/telemetry/index.js";

const env = process.env;
const logger = createLogger("payments", envString(env, "LOG_LEVEL", "info"));
// Traces: OTLP/HTTP export and sampling from the standard OTEL_* variables.
const tracing = tracingFromEnv(env, "payments");
const dataDir = envString(env, "DATA_DIR", ".data");
// Prometheus metrics at GET /metrics on the service's own port.
const metrics = createMeshMetrics({ collectProcess: true });
mkdirSync(dataDir, { recursive: true });

const store = openSqlitePaymentStore(path.join(dataDir, "payments.db"));
const payments = new Payments({
  store,
  processor: createSimulatedCardProcessor({ maxDelayMs: envInt(env, "PAYMENTS_MAX_SLOW_MS", 30_000, { min: 0 }) }),
});

const server = await serve({
  services: [registration(PaymentService, createPaymentHandler(payments))],
  logger,
  tracer: tracing.tracer,
  interceptors: [metrics.serverInterceptor()],
  httpRoutes: [metricsEndpoint(metrics)],
  readiness: [storeCheck(store)],
  shutdownDelayMs: envInt(env, "SHUTDOWN_DELAY_MS", 0, { min: 0 }),
  // A leaf service: it calls no other service, so it has nothing to propagate.
  propagateDeadlines: false,
  port: envInt(env, "PORT", 50052, { min: 0, max: 65535 }),
  host: envString(env, "HOST", "127.0.0.1"),
});
logger.info({ url: server.url }, "serving");

runUntilSignal(async () => {
  await server.shutdown();
  store.close();
  await tracing.provider.shutdown();
}, logger);
