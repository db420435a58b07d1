// A producer process for the outbox crash test: it commits one outbox row,
// starts a relay armed to crash before its first publish and so dies by
// SIGKILL between the commit and the publish. Run by outbox tests only.
import { create } from "@bufbuild/protobuf";
import { OrderConfirmedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { createLogger } from "../logger.js";
import { openDatabase } from "../sqlite/open-database.js";
import { createEmbeddedBus } from "./embedded-bus.js";
import { createEnvelope } from "./envelope.js";
import type { EventBus } from "./event-bus.js";
import { eventLogMigration } from "./event-log.js";
import { connectNatsBus } from "./nats-bus.js";
import { appendToOutbox, outboxMigration } from "./outbox.js";
import { startOutboxRelay } from "./outbox-relay.js";

const env = process.env;
const logger = createLogger("outbox-crash-child", "silent");
const db = openDatabase(env["DB_PATH"]!, { name: "producer", migrations: [outboxMigration, eventLogMigration] });
db.transaction(() => {
  const data = create(OrderConfirmedSchema, { orderId: "ord-crash" });
  appendToOutbox(db, env["STREAM"]!, createEnvelope(OrderConfirmedSchema, data, { source: "test", subject: "ord-crash", id: env["EVENT_ID"]! }));
})();
const bus: EventBus =
  env["NATS_URL"] === undefined
    ? createEmbeddedBus({ db, logger })
    : await connectNatsBus({ servers: env["NATS_URL"], name: "outbox-crash-child", logger });
startOutboxRelay({ db, bus, logger, testCrashBeforeFirstPublish: true });
setTimeout(() => process.exit(3), 10_000);
