import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { expect } from "chai";
import { OrderConfirmedSchema } from "../../../gen/meshwork/orders/v1/events_pb.js";
import { sharedPostgres } from "../../../test/support/postgres-server.js";
import { openPostgres, type PostgresDatabase } from "../../postgres/postgres-database.js";
import { createEnvelope } from "../envelope.js";
import { appendToPostgresOutbox, postgresOutboxMigration } from "./outbox.js";
import { publishesTable } from "./relay-race-schema.fixture.js";


/** Starts one relay replica (its own process and connections) and resolves once its relay runs. */
function startReplica(url: string, name: string): Promise<ChildProcess> {
  const script = path.join(import.meta.dirname, "relay-race-child.fixture.ts");
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, DATABASE_URL: url, RELAY_NAME: name },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay ${name} did not start: ${stderr}`)), 30_000);
    child.once("exit", (code) => reject(new Error(`relay ${name} exited with ${code}: ${stderr}`)));
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "ready") {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

/**
 * Relays of two replicas share one PostgreSQL outbox while events are
 * written: 1,000 events over 40 aggregates. Each must go out once (no row
 * taken by both relays) and, per aggregate, in the order written.
 */
describe("outbox relays on two replicas, one PostgreSQL outbox", function () {
  this.timeout(120_000);
  let db: PostgresDatabase;
  const replicas: ChildProcess[] = [];

  after(async () => {
    await Promise.all(
      replicas.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
    await db?.close();
  });

  it("publishes each of 1,000 events once, in order per aggregate", async () => {
    const url = await (await sharedPostgres()).createDatabase("relay_race");
    db = await openPostgres(url, { name: "relay-race-test", migrations: [postgresOutboxMigration, publishesTable] });
    replicas.push(...(await Promise.all([startReplica(url, "a"), startReplica(url, "b")])));

    // Written while both relays run: 100 transactions of 10 events, the
    // aggregates interleaved, each aggregate's events numbered in write order.
    const aggregates = 40;
    const written = new Map<string, string[]>();
    for (let tx = 0; tx < 100; tx++) {
      await db.transaction(async (client) => {
        for (let i = 0; i < 10; i++) {
          const n = tx * 10 + i;
          const subject = `agg-${(n * 7) % aggregates}`;
          const envelope = createEnvelope(OrderConfirmedSchema, { orderId: subject }, { source: "relay-race", subject, id: `ev-${n}` });
          await appendToPostgresOutbox(client, "orders", envelope);
          written.set(subject, [...(written.get(subject) ?? []), envelope.id]);
        }
      });
    }

    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await db.pool.query<{ unpublished: number; published: number }>(
        "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished, (SELECT count(*) FROM publishes) AS published",
      );
      if (rows[0]!.unpublished === 0 && rows[0]!.published >= 1_000) {
        break;
      }
      expect(Date.now(), `outbox not drained: ${JSON.stringify(rows[0])}`).to.be.below(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const { rows: publishes } = await db.pool.query<{ event_id: string; subject: string; relay: string }>(
      "SELECT event_id, subject, relay FROM publishes ORDER BY seq",
    );
    const times = new Map<string, number>();
    for (const p of publishes) {
      times.set(p.event_id, (times.get(p.event_id) ?? 0) + 1);
    }
    expect(times.size, "distinct events published").to.equal(1_000);
    expect([...times.values()].filter((n) => n !== 1), "events published more than once").to.deep.equal([]);

    const published = new Map<string, string[]>();
    for (const p of publishes) {
      published.set(p.subject, [...(published.get(p.subject) ?? []), p.event_id]);
    }
    for (const [subject, ids] of written) {
      expect(published.get(subject), subject).to.deep.equal(ids);
    }
    // Both relays took part: the race was real.
    const byRelay = new Map<string, number>();
    for (const p of publishes) {
      byRelay.set(p.relay, (byRelay.get(p.relay) ?? 0) + 1);
    }
    expect([...byRelay.keys()].sort(), JSON.stringify([...byRelay])).to.deep.equal(["a", "b"]);
  });
});
