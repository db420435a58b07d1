// PostgreSQL as a host of a podman test network (test/support/podman-hosts.ts):
// its own address, its own DNS name, every service's data in a database of its
// own, as docs/architecture.md's deployment has PostgreSQL beside the mesh.
//
// How: the Meshwork image has no PostgreSQL (and should not: it is the mesh's
// image, not a database's), and bind-mounting Debian's postgres into a
// container would mean mounting its libraries and shared files one by one. So
// the host is a placeholder container from the Meshwork image that only idles
// (it owns the address, the name and the network namespace), and this
// machine's postgres (Debian's package, as test/support/postgres-server.ts
// starts it) runs inside that namespace (nsenter -n, then setpriv to the
// postgres user), listening on the host's address only. Killing,
// partitioning or removing the placeholder's network acts on postgres as on a
// real host's. Its data directory and its Unix socket are on this machine's
// disk: the test reads invariants through the socket, as the superuser.
//
// Each service is a role with a random password and owns one database of its
// name; pg_hba admits a role only to its own database (`sameuser`), from the
// test network only, over TLS only, with both a client certificate of the
// mesh CA (clientcert=verify-ca: its workload certificate) and the role's
// password (scram-sha-256); the service verifies the server's certificate
// and host name (sslmode=verify-full). The URL is handed to the service in a
// file (DATABASE_URL_FILE), as a mounted Secret would be.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { Host, PodmanHosts } from "./podman-hosts.js";
import { postgresBinDir } from "./postgres-server.js";

export interface PodmanPostgres {
  readonly host: Host;
  /** A file (on this machine) holding `service`'s URL, readable by `owner` only: mount it and point DATABASE_URL_FILE at it. */
  urlFile(service: string): string;
  /** Runs a query in `database` as the superuser (through the Unix socket). */
  query<Row>(database: string, sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Stops postgres (fast shutdown) and removes its directory; the placeholder goes with the network. */
  stop(): Promise<void>;
}

export interface PodmanPostgresOptions {
  readonly name: string;
  readonly octet: number;
  /** One role and one database per service. */
  readonly databases: readonly string[];
  /** The uid the services run as (the URL files are theirs, mode 0400). */
  readonly owner: number;
  /** The server's certificate files on this machine (a mesh certificate whose DNS SANs hold `name`). */
  readonly serverTls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /** Where each service finds its own certificate files inside its container (tls.crt, tls.key, ca.crt). */
  readonly clientTlsDir: string;
}

const port = 5432;

function postgresUser(): { uid: number; gid: number } {
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error("the PostgreSQL host needs the postgres user (made by the Debian package postgresql)");
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export async function startPodmanPostgres(net: PodmanHosts, options: PodmanPostgresOptions): Promise<PodmanPostgres> {
  const bin = postgresBinDir();
  const user = postgresUser();
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-mh-pg-"));
  chownSync(dir, user.uid, user.gid);
  const dataDir = path.join(dir, "data");
  const init = spawnSync(
    path.join(bin, "initdb"),
    ["-D", dataDir, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"],
    { encoding: "utf8", cwd: dir, ...user },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  // The superuser through the socket only; each service to its own database, from the test network, over mTLS.
  writeFileSync(path.join(dataDir, "pg_hba.conf"), ["local all postgres trust", `hostssl sameuser all ${net.prefix}.0/24 scram-sha-256 clientcert=verify-ca`, ""].join("\n"));
  // postgres wants its key its own and private.
  const tls = { cert: path.join(dir, "server.crt"), key: path.join(dir, "server.key"), ca: path.join(dir, "ca.crt") };
  copyFileSync(options.serverTls.certFile, tls.cert);
  copyFileSync(options.serverTls.keyFile, tls.key);
  copyFileSync(options.serverTls.caFile, tls.ca);
  for (const file of Object.values(tls)) chownSync(file, user.uid, user.gid);
  chmodSync(tls.key, 0o600);

  const host = await net.start({
    name: options.name,
    octet: options.octet,
    entrypoint: "/usr/local/bin/node",
    args: ["-e", "setInterval(() => {}, 1 << 30)"],
  });
  const pid = await net.pid(options.name);
  const child: ChildProcess = spawn(
    "nsenter",
    [
      "-t", String(pid), "-n",
      "setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups",
      path.join(bin, "postgres"), "-D", dataDir, "-p", String(port), "-k", dir,
      "-c", `listen_addresses=${host.ip}`,
      "-c", "ssl=on", "-c", `ssl_cert_file=${tls.cert}`, "-c", `ssl_key_file=${tls.key}`, "-c", `ssl_ca_file=${tls.ca}`,
      "-c", "max_connections=300",
      "-c", "shared_buffers=64MB",
      // Nothing the test checks depends on a flush per commit.
      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
    ],
    { stdio: ["ignore", "ignore", "pipe"], cwd: dir },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const onExit = (): void => {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  const superuser = (database: string) => new pg.Client({ host: dir, port, user: "postgres", database });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = superuser("postgres");
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      break;
    } catch {
      await client.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        onExit();
        process.removeListener("exit", onExit);
        throw new Error(`postgres did not start on ${host.ip}:${port}: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const urlFiles = new Map<string, string>();
  const admin = superuser("postgres");
  await admin.connect();
  try {
    for (const name of options.databases) {
      if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
      const password = randomBytes(18).toString("base64url");
      await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
      await admin.query(`CREATE DATABASE ${name} OWNER ${name}`);
      const file = path.join(dir, `${name}.url`);
      const t = options.clientTlsDir;
      const ssl = `sslmode=verify-full&sslrootcert=${t}/ca.crt&sslcert=${t}/tls.crt&sslkey=${t}/tls.key`;
      writeFileSync(file, `postgres://${name}:${password}@${options.name}:${port}/${name}?${ssl}\n`);
      chownSync(file, options.owner, options.owner);
      chmodSync(file, 0o400);
      urlFiles.set(name, file);
    }
  } finally {
    await admin.end();
  }

  let stopped: Promise<void> | undefined;
  return {
    host,
    urlFile(service) {
      const file = urlFiles.get(service);
      if (file === undefined) throw new Error(`no database for ${service}`);
      return file;
    },
    async query<Row>(database: string, sql: string, params: readonly unknown[] = []) {
      const client = superuser(database);
      await client.connect();
      try {
        return (await client.query(sql, params as unknown[])).rows as Row[];
      } finally {
        await client.end();
      }
    },
    stop() {
      stopped ??= (async () => {
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
      return stopped;
    },
  };
}
