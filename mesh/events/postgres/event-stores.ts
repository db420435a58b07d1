import type pg from "pg";
import type { PostgresDatabase } from "../../postgres/postgres-database.js";
import type { EventStores } from "../event-stores.js";
import { postgresConsumerPositions } from "./consumer-position.js";
import { postgresEventLog } from "./event-log.js";
import { postgresInbox } from "./inbox.js";
import { postgresOutbox } from "./outbox.js";

/**
 * The events ports of a service's PostgreSQL database (the tables its
 * migrations created: outbox and event log for a producer, inbox for a
 * consumer). `txOf` gives handlers the service's view of a transaction.
 */
export function postgresEventStores<Tx = unknown>(db: PostgresDatabase, txOf: (client: pg.PoolClient) => Tx = () => undefined as Tx): EventStores<Tx> {
  return {
    outbox: postgresOutbox(db),
    eventLog: postgresEventLog(db),
    positions: postgresConsumerPositions(db),
    inbox: postgresInbox(db, txOf),
  };
}
