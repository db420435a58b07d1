import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import {
  appendToOutbox,
  appendToPostgresOutbox,
  eventLogMigration,
  inboxMigration,
  outboxMigration,
  postgresEventLogMigration,
  postgresEventStores,
  postgresInboxMigration,
  postgresOutboxMigration,
  sqliteEventStores,
  type EventStores,
} from "../../mesh/events/index.js";
import { openDatabase, openPostgres, SqliteSession, type StoreLocation } from "../../mesh/index.js";

/** What a test consumer's handlers get inside the inbox's transaction: a way to record an effect. */
export interface EffectTx {
  recordEffect(orderId: string, eventId: string): Promise<void>;
}

/**
 * A service database as mesh/events sees it, for tests of the outbox, relay,
 * buses and consumers on either engine: a producer's (outbox and event log)
 * or a consumer's (inbox and an `effects` table its handlers write to).
 */
export interface EventsDatabase {
  readonly events: EventStores<EffectTx>;
  /** Appends the envelopes to the outbox in one transaction. */
  writeOutbox(stream: string, envelopes: readonly Envelope[]): Promise<void>;
  /** The order ids of the effects recorded, in recording order. */
  effects(): Promise<string[]>;
  inboxSize(consumer: string): Promise<number>;
  unpublishedCount(): Promise<number>;
  /** Forgets every consumer's position (the embedded bus then delivers the stream again). */
  forgetPositions(): Promise<void>;
  close(): Promise<void>;
}

export type EventsDatabaseRole = "producer" | "consumer";

const effectsTable = {
  sqlite: "CREATE TABLE effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, event_id TEXT NOT NULL)",
  postgres: "CREATE TABLE effects (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id text NOT NULL, event_id text NOT NULL)",
};

/** Opens (creating and migrating) a producer's or consumer's database at `location`. */
export async function openEventsDatabase(location: StoreLocation, role: EventsDatabaseRole): Promise<EventsDatabase> {
  if (location.engine === "sqlite") {
    const db = openDatabase(location.path, {
      name: role,
      migrations: role === "producer" ? [outboxMigration, eventLogMigration] : [inboxMigration, effectsTable.sqlite],
    });
    const session = new SqliteSession(db);
    const tx: EffectTx = {
      async recordEffect(orderId, eventId) {
        db.prepare("INSERT INTO effects (order_id, event_id) VALUES (?, ?)").run(orderId, eventId);
      },
    };
    const count = (sql: string, ...params: unknown[]) => session.run(() => (db.prepare(sql).get(...params) as { n: number }).n);
    return {
      events: sqliteEventStores(session, tx),
      writeOutbox: (stream, envelopes) =>
        session.transaction(async () => {
          for (const envelope of envelopes) {
            appendToOutbox(db, stream, envelope);
          }
        }),
      effects: () => session.run(() => (db.prepare("SELECT order_id FROM effects ORDER BY seq").all() as { order_id: string }[]).map((r) => r.order_id)),
      inboxSize: (consumer) => count("SELECT count(*) AS n FROM inbox WHERE consumer = ?", consumer),
      unpublishedCount: () => count("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"),
      forgetPositions: () => session.run(() => void db.prepare("DELETE FROM consumer_position").run()),
      close: async () => session.close(),
    };
  }
  const db = await openPostgres(location.url, {
    name: role,
    migrations: role === "producer" ? [postgresOutboxMigration, postgresEventLogMigration] : [postgresInboxMigration, effectsTable.postgres],
  });
  const count = async (text: string, values: unknown[] = []) => (await db.pool.query<{ n: number }>({ text, values })).rows[0]?.n ?? 0;
  return {
    events: postgresEventStores(db, (client) => ({
      async recordEffect(orderId, eventId) {
        await client.query("INSERT INTO effects (order_id, event_id) VALUES ($1, $2)", [orderId, eventId]);
      },
    })),
    writeOutbox: (stream, envelopes) =>
      db.transaction(async (client) => {
        for (const envelope of envelopes) {
          await appendToPostgresOutbox(client, stream, envelope);
        }
      }),
    effects: async () => (await db.pool.query<{ order_id: string }>("SELECT order_id FROM effects ORDER BY seq")).rows.map((r) => r.order_id),
    inboxSize: (consumer) => count("SELECT count(*) AS n FROM inbox WHERE consumer = $1", [consumer]),
    unpublishedCount: () => count("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"),
    forgetPositions: async () => void (await db.pool.query("DELETE FROM consumer_position")),
    close: () => db.close(),
  };
}
