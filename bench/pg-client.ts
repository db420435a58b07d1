// Which PostgreSQL client for the stores: node-postgres (`pg`, with its Pool)
// or `postgres` (porsager), on what the stores do, in one run against one
// real server (Debian's postgres, durable settings, started here):
//
//   npx tsx bench/pg-client.ts [--rounds 3] [--ops 4000] [--concurrency 8]
//
// Per client and round: `ops` keyed reads (a prepared SELECT by primary key)
// and `ops` store-like transactions (BEGIN; SELECT ... FOR UPDATE; UPDATE;
// INSERT; COMMIT), `concurrency` at a time over a pool of 10. Rounds
// alternate the clients' order; figures are medians, ratios within the run.
import { parseArgs } from "node:util";
import pg from "pg";
import postgres from "postgres";
import { startPostgres } from "../test/support/postgres-server.js";
import { positive } from "./support/cli-args.js";
import { medianOf } from "./support/median.js";

const { values: args } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, ops: { type: "string", default: "4000" }, concurrency: { type: "string", default: "8" } },
});
const rounds = positive("rounds", args.rounds!, 20);
const ops = positive("ops", args.ops!, 1_000_000);
const concurrency = positive("concurrency", args.concurrency!, 256);

interface Client {
  read(id: number): Promise<void>;
  transaction(id: number): Promise<void>;
  close(): Promise<void>;
}

function pgClient(url: string): Client {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const read = { name: "bench_read", text: "SELECT * FROM items WHERE id = $1" };
  const lock = { name: "bench_lock", text: "SELECT * FROM items WHERE id = $1 FOR UPDATE" };
  const update = { name: "bench_update", text: "UPDATE items SET n = n + 1 WHERE id = $1" };
  const insert = { name: "bench_insert", text: "INSERT INTO events (item, at) VALUES ($1, $2)" };
  return {
    async read(id) {
      await pool.query({ ...read, values: [id] });
    },
    async transaction(id) {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query({ ...lock, values: [id] });
        await c.query({ ...update, values: [id] });
        await c.query({ ...insert, values: [id, Date.now()] });
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK");
        throw err;
      } finally {
        c.release();
      }
    },
    close: () => pool.end(),
  };
}

function postgresClient(url: string): Client {
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  return {
    async read(id) {
      await sql`SELECT * FROM items WHERE id = ${id}`;
    },
    async transaction(id) {
      await sql.begin(async (tx) => {
        await tx`SELECT * FROM items WHERE id = ${id} FOR UPDATE`;
        await tx`UPDATE items SET n = n + 1 WHERE id = ${id}`;
        await tx`INSERT INTO events (item, at) VALUES (${id}, ${Date.now()})`;
      });
    },
    close: () => sql.end(),
  };
}

async function run(n: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        await op(next++);
      }
    }),
  );
  return (n * 1000) / (performance.now() - start);
}

const server = await startPostgres({ durable: true });
try {
  const url = await server.createDatabase("bench_clients");
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query("CREATE TABLE items (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0)");
  await setup.query("CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item integer NOT NULL, at bigint NOT NULL)");
  await setup.query("INSERT INTO items (id) SELECT generate_series(0, 999)");
  await setup.end();
  const clients = { pg: pgClient(url), postgres: postgresClient(url) } as const;
  const results: Record<string, { reads: number[]; transactions: number[] }> = { pg: { reads: [], transactions: [] }, postgres: { reads: [], transactions: [] } };
  for (const [name, c] of Object.entries(clients)) {
    await run(500, (i) => c.read(i % 1000));
    await run(200, (i) => c.transaction(i % 1000));
    void name;
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (["pg", "postgres"] as const) : (["postgres", "pg"] as const);
    for (const name of order) {
      const c = clients[name];
      results[name]!.reads.push(await run(ops, (i) => c.read(i % 1000)));
      results[name]!.transactions.push(await run(ops, (i) => c.transaction(i % 1000)));
      console.log(`round ${round + 1} ${name}: ${results[name]!.reads.at(-1)!.toFixed(0)} reads/s, ${results[name]!.transactions.at(-1)!.toFixed(0)} transactions/s`);
    }
  }
  await Promise.all(Object.values(clients).map((c) => c.close()));
  const m = (xs: number[]) => medianOf(xs);
  console.log(`\n| client | keyed reads/s | store transactions/s |\n|---|---:|---:|`);
  for (const name of ["pg", "postgres"] as const) {
    console.log(`| ${name} | ${m(results[name]!.reads).toFixed(0)} | ${m(results[name]!.transactions).toFixed(0)} |`);
  }
  console.log(
    `postgres/pg: reads ${(m(results.postgres!.reads) / m(results.pg!.reads)).toFixed(2)}, transactions ${(m(results.postgres!.transactions) / m(results.pg!.transactions)).toFixed(2)}`,
  );
} finally {
  await server.dispose();
}
