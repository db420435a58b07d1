import { fromBinary, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { EnvelopeSchema } from "../../../gen/meshwork/events/v1/envelope_pb.js";
import { prepared, type PostgresDatabase } from "../../postgres/postgres-database.js";
import type { EventLogStore } from "../event-stores.js";

/** The channel appends are announced on (payload: the stream). */
const channel = "meshwork_event_log";

/**
 * The embedded bus's durable log on PostgreSQL: one migration step a
 * producing service appends. Each stream numbers its events from 1 without
 * gaps and in commit order, which a sequence cannot give (numbers drawn by
 * transactions that commit out of order, or roll back): append takes a
 * transaction-scoped advisory lock per stream, then computes max + 1 in a
 * statement that starts after the lock is held, so it sees every earlier
 * append. An event id appears once per stream (the bus's deduplication).
 * Every append is announced with NOTIFY, so that readers in every replica
 * wake at once.
 */
export const postgresEventLogMigration = `
CREATE TABLE event_log (
  stream   text NOT NULL,
  sequence bigint NOT NULL,
  id       text NOT NULL,
  envelope bytea NOT NULL,
  PRIMARY KEY (stream, sequence),
  UNIQUE (stream, id)
);
CREATE FUNCTION meshwork_event_log_append(p_stream text, p_id text, p_envelope bytea) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  appended integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('meshwork_event_log'), hashtext(p_stream));
  INSERT INTO event_log (stream, sequence, id, envelope)
    SELECT p_stream, coalesce(max(sequence), 0) + 1, p_id, p_envelope FROM event_log WHERE stream = p_stream
    ON CONFLICT (stream, id) DO NOTHING;
  GET DIAGNOSTICS appended = ROW_COUNT;
  IF appended > 0 THEN
    PERFORM pg_notify('${channel}', p_stream);
  END IF;
  RETURN appended > 0;
END
$$;
`;

const append = prepared("SELECT meshwork_event_log_append($1, $2, $3) AS appended");
const read = prepared("SELECT sequence, envelope FROM event_log WHERE stream = $1 AND sequence > $2 ORDER BY sequence LIMIT $3");
const last = prepared("SELECT coalesce(max(sequence), 0) AS last FROM event_log WHERE stream = $1");

/** How long a lost LISTEN connection waits before connecting again; readers poll meanwhile. */
const relistenMs = 1_000;

/** The event log on PostgreSQL (see `postgresEventLogMigration`). */
export function postgresEventLog(db: PostgresDatabase): EventLogStore {
  return {
    async append(stream, envelope) {
      const { rows } = await db.pool.query<{ appended: boolean }>(append([stream, envelope.id, toBinary(EnvelopeSchema, envelope)]));
      return rows[0]?.appended === true;
    },
    async read(stream, afterSequence, limit) {
      const { rows } = await db.pool.query<{ sequence: number; envelope: Buffer }>(read([stream, afterSequence, limit]));
      return rows.map((row) => ({ sequence: row.sequence, envelope: fromBinary(EnvelopeSchema, row.envelope) }));
    },
    async lastSequence(stream) {
      const { rows } = await db.pool.query<{ last: number }>(last([stream]));
      return rows[0]?.last ?? 0;
    },
    async watchAppends(listener) {
      // LISTEN needs a connection of its own for as long as it listens: not one of the pool's.
      let client: pg.Client | undefined;
      let stopped = false;
      let retry: NodeJS.Timeout | undefined;
      const listenLater = (): void => {
        retry = setTimeout(() => void listen().catch(listenLater), relistenMs);
        retry.unref();
      };
      const listen = async (): Promise<void> => {
        const next = new pg.Client({ connectionString: db.url, application_name: `${db.name} event-log listener` });
        next.on("notification", (message) => {
          if (message.payload !== undefined) {
            listener(message.payload);
          }
        });
        next.on("error", () => {
          // Connection lost: listen again shortly; readers poll meanwhile.
          void next.end().catch(() => {});
          if (!stopped && client === next) {
            client = undefined;
            listenLater();
          }
        });
        await next.connect();
        await next.query(`LISTEN ${channel}`);
        if (stopped) {
          await next.end();
          return;
        }
        client = next;
      };
      await listen();
      return async () => {
        stopped = true;
        clearTimeout(retry);
        await client?.end().catch(() => {});
      };
    },
  };
}
