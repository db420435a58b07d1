// Wiring only: configuration from the environment, store, domain, handler,
// server, a sweeper that expires reservations past their TTL, and the event bus
// with the outbox relay that publishes stock events.
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { InventoryService as InventoryServiceV2alpha1 } from "../../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import { envInt, registration, runUntilSignal, serviceRuntime, storeCheck, storeFromEnv } from "../../mesh/index.js";
import { eventBusFromEnv, eventBusServices, startOutboxRelay, type OutboxRelay } from "../../mesh/events/index.js";
import { createInventoryV2alpha1Handler } from "./handler-v2alpha1.js";
import { inventoryStream } from "./events.js";
import { createInventoryHandler } from "./handler.js";
import { Inventory } from "./inventory.js";
import { openInventoryStore } from "./open-store.js";

const runtime = serviceRuntime("inventory", process.env, { defaultPort: 50051 });
const { env, logger } = runtime;
// MESH_ENV=production: the runtime's fallbacks (mTLS off, MESH_FAULTS) stop it before the store is opened.
runtime.refuseDevFallbacks();

// Stock events go out through the outbox: the relay is woken after each commit that wrote one.
let relay: OutboxRelay | undefined;
// SQLite under DATA_DIR, or PostgreSQL from DATABASE_URL / DATABASE_URL_FILE.
const store = await openInventoryStore(storeFromEnv(env, () => runtime.dataFile("inventory.db")), {
  onEventsCommitted: () => relay?.wake(),
  logger,
});
// NATS JetStream when NATS_URL is set, else the embedded bus (served below).
const bus = await eventBusFromEnv(env, { name: "inventory", store: store.events, logger, streams: [inventoryStream], tls: runtime.tls });
relay = startOutboxRelay({ outbox: store.events.outbox, bus, logger });
const inventory = new Inventory({
  store,
  defaultReservationTtlMs: envInt(env, "RESERVATION_TTL_SECONDS", 900, { min: 1, max: 3600 }) * 1000,
});
const sweeper = setInterval(
  () => void inventory.expireDue().catch((err: unknown) => logger.warn({ err }, "expiring reservations failed; retrying at the next sweep")),
  envInt(env, "EXPIRY_SWEEP_MS", 1000, { min: 10 }),
);

const server = await runtime.serve({
  // v1 is stable; v2alpha1 is served beside it over the same domain while clients migrate.
  services: [
    registration(InventoryService, createInventoryHandler(inventory)),
    registration(InventoryServiceV2alpha1, createInventoryV2alpha1Handler(inventory)),
    // On the embedded bus, consumers read the stock events from this port.
    ...eventBusServices(bus),
  ],
  readiness: [storeCheck(store)],
  // A leaf service: it calls no other service, so it has nothing to propagate.
  propagateDeadlines: false,
});

runUntilSignal(async () => {
  // Events written from here on stay in the outbox for the next start.
  await relay.stop();
  await bus.close();
  await server.shutdown();
  clearInterval(sweeper);
  await store.close();
  await runtime.shutdown();
}, logger);
