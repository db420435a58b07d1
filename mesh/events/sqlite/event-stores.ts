import type { SqliteSession } from "../../sqlite/sqlite-session.js";
import type { EventStores } from "../event-stores.js";
import { sqliteConsumerPositions } from "./consumer-position.js";
import { sqliteEventLog } from "./event-log.js";
import { sqliteInbox } from "./inbox.js";
import { sqliteOutbox } from "./outbox.js";

/**
 * The events ports of a service's SQLite database (the tables its migrations
 * created). `tx` is what handlers get inside the inbox's transaction: on
 * SQLite the service's store itself, on the same connection. Each port
 * prepares its statements on first use: a producer's database has no inbox,
 * a consumer's no outbox.
 */
export function sqliteEventStores<Tx = unknown>(session: SqliteSession, tx: Tx = undefined as Tx): EventStores<Tx> {
  let outbox: EventStores<Tx>["outbox"] | undefined;
  let inbox: EventStores<Tx>["inbox"] | undefined;
  const eventLog = sqliteEventLog(session);
  const positions = sqliteConsumerPositions(session);
  return {
    get outbox() {
      return (outbox ??= sqliteOutbox(session));
    },
    eventLog,
    positions,
    get inbox() {
      return (inbox ??= sqliteInbox(session, tx));
    },
  };
}
