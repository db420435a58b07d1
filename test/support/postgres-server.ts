import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "./free-port.js";

/**
 * The Debian package's binaries (postgresql, scripts/system-packages.txt):
 * the newest /usr/lib/postgresql/<version>/bin that has initdb.
 */
export function postgresBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(path.join(base, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error("PostgreSQL's initdb and postgres are missing (Debian package postgresql: apt-get install postgresql)");
  }
  return path.join(base, versions[0]!, "bin");
}

/** A real PostgreSQL server in a temporary directory, for tests and benchmarks. */
export interface PostgresServer {
  readonly port: number;
  /** The postmaster's PID (its backends are its children): for CPU accounting in benchmarks. */
  readonly pid: number;
  /** postgres://postgres@127.0.0.1:<port>/<database>: the superuser, no password (trust on loopback). */
  url(database: string): string;
  /** Creates a fresh database (named after `prefix` plus a counter) and returns its URL. */
  createDatabase(prefix: string): Promise<string>;
  /** Stops the server (SIGTERM, fast shutdown; SIGKILL after 10 s) and removes its directory. */
  dispose(): Promise<void>;
}

export interface StartPostgresOptions {
  /**
   * Durability as shipped (fsync, synchronous commit): for benchmarks.
   * Default false: tests run with fsync and synchronous_commit off, which
   * changes nothing they check and saves a flush per commit.
   */
  readonly durable?: boolean;
  /** Pin the server to this CPU with taskset (benchmarks). */
  readonly core?: number;
}

const isRoot = process.getuid?.() === 0;

/**
 * The user the server runs as: the postgres user (made by the Debian
 * package) when this process is root, since initdb refuses root; else this
 * process's own user.
 */
function serverUser(): { uid: number; gid: number } | undefined {
  if (!isRoot) {
    return undefined;
  }
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error("running as root needs the postgres user (made by the Debian package postgresql) to run the server");
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * initdb into a new temporary directory, then postgres on a free 127.0.0.1
 * port with its socket in that directory; resolves once it accepts queries.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-pg-"));
  const user = serverUser();
  if (user !== undefined) {
    chownSync(dir, user.uid, user.gid);
  }
  const data = path.join(dir, "data");
  const init = spawnSync(
    path.join(bin, "initdb"),
    [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
    ],
    { encoding: "utf8", cwd: dir, ...user },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const settings = [
    "-c", "listen_addresses=127.0.0.1",
    "-c", "max_connections=300",
    "-c", "shared_buffers=64MB",
    ...(options.durable === true ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
  ];
  const command = [path.join(bin, "postgres"), "-D", data, "-p", String(port), "-k", dir, ...settings];
  const [file, ...args] = options.core === undefined ? command : ["taskset", "-c", String(options.core), ...command];
  const child: ChildProcess = spawn(file!, args, { stdio: ["ignore", "ignore", "pipe"], cwd: dir, ...user });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = (database: string): string => `postgres://postgres@127.0.0.1:${port}/${database}`;

  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url("postgres") });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      break;
    } catch {
      await client.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`postgres did not start on port ${port}: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  let databases = 0;
  let disposed: Promise<void> | undefined;
  const onExit = (): void => {
    // The test run ends without dispose (mocha --exit): do not leave a server behind.
    if (child.exitCode === null) {
      child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  return {
    port,
    pid: child.pid!,
    url,
    async createDatabase(prefix) {
      const name = `${prefix.replace(/[^a-z0-9_]/g, "_")}_${++databases}`;
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    dispose() {
      disposed ??= (async () => {
        process.removeListener("exit", onExit);
        if (child.exitCode === null) {
          // SIGINT: fast shutdown (aborts open transactions, closes sessions).
          child.kill("SIGINT");
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return disposed;
    },
  };
}

let shared: Promise<PostgresServer> | undefined;

/**
 * One server for the whole test run (mocha runs every file in one process),
 * started on first use and stopped when the process exits; each suite makes
 * its own databases in it.
 */
export function sharedPostgres(): Promise<PostgresServer> {
  shared ??= startPostgres();
  return shared;
}
