// One "replica" of the relay race test (relay-race.test.ts): an outbox relay
// on a shared PostgreSQL outbox, publishing to a bus that records every
// publish in the same database (publishes table, no deduplication), so the
// test can count how often each event went out and in what order. Prints
// "ready" once its relay runs; stops on SIGTERM. Run by that test only.
import { createLogger } from "../../logger.js";
import { openPostgres } from "../../postgres/postgres-database.js";
import type { EventBus } from "../event-bus.js";
import { startOutboxRelay } from "../outbox-relay.js";
import { postgresOutbox, postgresOutboxMigration } from "./outbox.js";
import { publishesTable } from "./relay-race-schema.fixture.js";

const url = process.env["DATABASE_URL"]!;
const relayName = process.env["RELAY_NAME"]!;
const logger = createLogger(`relay-${relayName}`, "warn");
const db = await openPostgres(url, { name: `relay-${relayName}`, migrations: [postgresOutboxMigration, publishesTable], logger });
const bus: EventBus = {
  async publish(stream, envelope) {
    await db.pool.query("INSERT INTO publishes (event_id, subject, relay) VALUES ($1, $2, $3)", [envelope.id, envelope.subject, relayName]);
  },
  subscribe: () => {
    throw new Error("not a consumer");
  },
  close: async () => {},
};
const relay = startOutboxRelay({ outbox: postgresOutbox(db), bus, logger, pollMs: 10 });
console.log("ready");
process.once("SIGTERM", () => {
  void relay.stop().then(async () => {
    await db.close();
    process.exit(0);
  });
});
