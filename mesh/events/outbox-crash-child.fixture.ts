// A producer process for the outbox crash test: it commits one outbox row,
// starts a relay armed to crash before its first publish and so dies by
// SIGKILL between the commit and the publish. Run by outbox tests only; its
// database is DB_PATH (SQLite) or DATABASE_URL (PostgreSQL).
import { OrderConfirmedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { openEventsDatabase } from "../../test/support/events-database.js";
import { createLogger } from "../logger.js";
import { createEmbeddedBus } from "./embedded-bus.js";
import { createEnvelope } from "./envelope.js";
import type { EventBus } from "./event-bus.js";
import { connectNatsBus } from "./nats-bus.js";
import { startOutboxRelay } from "./outbox-relay.js";

const env = process.env;
const logger = createLogger("outbox-crash-child", "silent");
const url = env["DATABASE_URL"];
const db = await openEventsDatabase(url === undefined ? { engine: "sqlite", path: env["DB_PATH"]! } : { engine: "postgres", url }, "producer");
await db.writeOutbox(env["STREAM"]!, [
  createEnvelope(OrderConfirmedSchema, { orderId: "ord-crash" }, { source: "test", subject: "ord-crash", id: env["EVENT_ID"]! }),
]);
const bus: EventBus =
  env["NATS_URL"] === undefined
    ? createEmbeddedBus({ store: db.events, logger })
    : await connectNatsBus({ servers: env["NATS_URL"], name: "outbox-crash-child", logger });
startOutboxRelay({ outbox: db.events.outbox, bus, logger, testCrashBeforeFirstPublish: true });
setTimeout(() => process.exit(3), 10_000);
