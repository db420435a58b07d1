/**
 * What `make service NAME=<name> [PUBLIC=1]` writes: a working service in
 * this repository's shape — its contract, and services/<name>/ with main
 * (wiring), handler (proto <-> domain), domain, a store port with its SQLite
 * and PostgreSQL implementations and their migrations, its
 * catalogue entry and its tests — with every name derived from NAME, so
 * nothing is renamed by hand. The resource is an "entry" (a title, created
 * idempotently by request id), small enough to replace and complete enough
 * to show every rule: comments, idempotency levels, validation, HTTP
 * bindings when public.
 */
export interface ServiceTemplateInput {
  /** Lowercase letters and digits: the folder, the proto package segment, the process. */
  readonly name: string;
  /** Its port in `make run` and its main's default (the catalogue's next free one). */
  readonly port: number;
  /** Routed by the gateway: HTTP bindings in the contract, routes and policy lines at the edge. */
  readonly isPublic: boolean;
}

/** A new service's name: lowercase letters and digits, starting with a letter (a proto package segment). */
export const serviceNamePattern = /^[a-z][a-z0-9]{1,30}$/;

/** "shipping" -> "Shipping". */
export function pascalName(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** Its environment variable prefix: SHIPPING (SHIPPING_URL, SHIPPING_PORT). */
export function envPrefix(name: string): string {
  return name.toUpperCase().replaceAll("-", "_");
}

/** The full name of the new service's RPC service, e.g. "meshwork.shipping.v1.ShippingService". */
export function serviceTypeName(name: string): string {
  return `meshwork.${name}.v1.${pascalName(name)}Service`;
}

/** Files to write, by path relative to the repository root. */
export function serviceFiles({ name, port, isPublic }: ServiceTemplateInput): Record<string, string> {
  const P = pascalName(name);
  const S = `${P}Service`;
  const dir = `services/${name}`;
  const http = (rule: string): string => (isPublic ? `\n    option (google.api.http) = ${rule};` : "");
  return {
    [`proto/meshwork/${name}/v1/${name}.proto`]: `syntax = "proto3";

package meshwork.${name}.v1;

import "buf/validate/validate.proto";
${isPublic ? 'import "google/api/annotations.proto";\n' : ""}import "google/protobuf/timestamp.proto";
import "meshwork/access/v1/access.proto";

// ${S} keeps entries: short titled records, created once per request id.
// Replace the entry with this service's own resource; keep the rules: a
// comment on every element, an idempotency level on every RPC that is safe
// to retry, validation on every constrained field${isPublic ? ", an HTTP binding on\n// every public RPC" : ""}.
service ${S} {
${
  isPublic
    ? `  // Customers reach it through the gateway, which asserts who they are.
  option (meshwork.access.v1.default_callers) = {
    services: ["gateway"]
    assert_customer: ["gateway"]
  };`
    : `  // Who may call it: name the services that do (operators meanwhile).
  option (meshwork.access.v1.default_callers) = {operators: true};`
}

  // CreateEntry stores a new entry. The request id makes it idempotent: the
  // same request id with the same title returns the entry created first;
  // with another title it fails FailedPrecondition REQUEST_ID_REUSED.
  rpc CreateEntry(CreateEntryRequest) returns (CreateEntryResponse) {
    option idempotency_level = IDEMPOTENT;${http('{\n      post: "/v1/' + name + '/entries"\n      body: "*"\n    }')}
  }

  // GetEntry returns one entry, or NotFound.
  rpc GetEntry(GetEntryRequest) returns (GetEntryResponse) {
    option idempotency_level = NO_SIDE_EFFECTS;${http(`{get: "/v1/${name}/entries/{entry_id}"}`)}
  }
}

// Entry is one stored entry.
message Entry {
  // The entry's id, assigned on creation.
  string entry_id = 1;
  // Its title.
  string title = 2;
  // When it was created.
  google.protobuf.Timestamp created_at = 3;
}

// CreateEntryRequest describes the entry to create.
message CreateEntryRequest {
  // The caller's id for this creation; a retry sends the same one.
  string request_id = 1 [(buf.validate.field).string = {
    min_len: 1
    max_len: 64
    pattern: "^[A-Za-z0-9._:-]+$"
  }];
  // The title, 1 to 200 characters.
  string title = 2 [(buf.validate.field).string = {
    min_len: 1
    max_len: 200
  }];
}

// CreateEntryResponse carries the entry created (or created first, on a retry).
message CreateEntryResponse {
  // The entry.
  Entry entry = 1;
}

// GetEntryRequest names the entry.
message GetEntryRequest {
  // The entry's id.
  string entry_id = 1 [(buf.validate.field).string = {
    min_len: 1
    max_len: 64
  }];
}

// GetEntryResponse carries the entry.
message GetEntryResponse {
  // The entry.
  Entry entry = 1;
}
`,

    [`${dir}/service.yaml`]: `# The catalogue entry of ${name} (README: "The service catalogue"), written
# by make service: fill in the owner and description; make test checks the
# rest against the code.
name: ${name}
owner: ${name} team
description: >-
  Keeps entries (a template: replace with what ${name} does).
tier: 2
port: ${port}
dependencies: []
data: [entries]
slos:
  - name: create-entry-availability
    description: Entries are created without a server error.
    objective: 99.9
    availability:
      method: meshwork.${name}.v1.${S}/CreateEntry
  - name: get-entry-availability
    description: Entries are read without a server error.
    objective: 99.9
    availability:
      method: meshwork.${name}.v1.${S}/GetEntry
  - name: get-entry-latency
    description: Reading an entry takes under 50 ms.
    objective: 99
    latency:
      method: meshwork.${name}.v1.${S}/GetEntry
      below_seconds: 0.05
`,

    [`${dir}/main.ts`]: `// Wiring only: configuration from the environment, store, domain, handler
// and server.
import { ${S} } from "../../gen/meshwork/${name}/v1/${name}_pb.js";
import { registration, runUntilSignal, serviceRuntime, storeCheck, storeFromEnv } from "../../mesh/index.js";
import { Entries } from "./entries.js";
import { create${P}Handler } from "./handler.js";
import { openEntryStore } from "./open-store.js";

const runtime = serviceRuntime("${name}", process.env, { defaultPort: ${port} });
const { env, logger } = runtime;

// SQLite under DATA_DIR, or PostgreSQL from DATABASE_URL / DATABASE_URL_FILE.
const store = await openEntryStore(storeFromEnv(env, () => runtime.dataFile("${name}.db")), { logger });
const entries = new Entries({ store });

const server = await runtime.serve({
  services: [registration(${S}, create${P}Handler(entries))],
  readiness: [storeCheck(store)],
  // A leaf service: it calls no other service, so it has nothing to propagate.
  propagateDeadlines: false,
});

runUntilSignal(async () => {
  await server.shutdown();
  await store.close();
  await runtime.shutdown();
}, logger);
`,

    [`${dir}/entry.ts`]: `/** One entry, as the domain sees it (the contract's Entry stops at the handler). */
export interface Entry {
  readonly entryId: string;
  readonly title: string;
  readonly createdAt: Date;
}
`,

    [`${dir}/entry-store.ts`]: `import type { Entry } from "./entry.js";

/** An entry and the request that created it. */
export interface StoredEntry {
  readonly entry: Entry;
  readonly requestId: string;
}

/**
 * Where entries live: the domain owns this port; sqlite-store.ts (the
 * embedded default) and postgres-store.ts implement it.
 */
export interface EntryStore {
  /**
   * Stores \`entry\` for \`requestId\` unless an entry was already stored for
   * that request id, and returns the stored one either way (atomically: two
   * concurrent retries store one entry).
   */
  insertOnce(requestId: string, entry: Entry): Promise<StoredEntry>;
  get(entryId: string): Promise<Entry | undefined>;
  /** A trivial query, for readiness: fails once the database is closed or unreachable (see storeCheck). */
  ping(): void | Promise<void>;
  close(): Promise<void>;
}
`,

    [`${dir}/entries.ts`]: `import { randomUUID } from "node:crypto";
import { Code, failure } from "../../mesh/index.js";
import type { Entry } from "./entry.js";
import type { EntryStore } from "./entry-store.js";

export interface EntriesOptions {
  readonly store: EntryStore;
  /** The clock. Default: Date.now. */
  readonly now?: () => number;
}

/** The ${name} domain: entries created once per request id. */
export class Entries {
  private readonly store: EntryStore;
  private readonly now: () => number;

  constructor(options: EntriesOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
  }

  /**
   * Creates an entry, or returns the one this request id created. The same
   * request id with another title is a client mistake, not a retry:
   * FailedPrecondition REQUEST_ID_REUSED.
   */
  async create(requestId: string, title: string): Promise<Entry> {
    const stored = await this.store.insertOnce(requestId, { entryId: randomUUID(), title, createdAt: new Date(this.now()) });
    if (stored.entry.title !== title) {
      throw failure(Code.FailedPrecondition, "REQUEST_ID_REUSED", \`request id \${requestId} already created an entry with another title\`);
    }
    return stored.entry;
  }

  /** The entry, or NotFound ENTRY_NOT_FOUND. */
  async get(entryId: string): Promise<Entry> {
    const entry = await this.store.get(entryId);
    if (entry === undefined) {
      throw failure(Code.NotFound, "ENTRY_NOT_FOUND", \`no entry \${entryId}\`);
    }
    return entry;
  }
}
`,

    [`${dir}/migrations.ts`]: `/**
 * The ${name} schema, one step per entry, applied in order, on each engine:
 * SQLite counts the steps applied in \`PRAGMA user_version\`, PostgreSQL in
 * schema_migrations. Append only, never edit a step that has shipped, and
 * grow both lists together. The catalogue's \`data\` lists the tables these create.
 */
export const migrations: readonly string[] = [
  \`CREATE TABLE entries (
     entry_id      TEXT PRIMARY KEY,
     request_id    TEXT NOT NULL UNIQUE,
     title         TEXT NOT NULL,
     created_at_ms INTEGER NOT NULL
   ) STRICT;\`,
];

export const postgresMigrations: readonly string[] = [
  \`CREATE TABLE entries (
     entry_id      text PRIMARY KEY,
     request_id    text NOT NULL UNIQUE,
     title         text NOT NULL,
     created_at_ms bigint NOT NULL
   );\`,
];
`,

    [`${dir}/sqlite-store.ts`]: `import type Database from "better-sqlite3";
import { openDatabase } from "../../mesh/index.js";
import type { Entry } from "./entry.js";
import type { EntryStore, StoredEntry } from "./entry-store.js";
import { migrations } from "./migrations.js";

interface EntryRow {
  entry_id: string;
  request_id: string;
  title: string;
  created_at_ms: number;
}

/**
 * Opens (creating and migrating as needed) the ${name} database at \`path\`,
 * or an in-memory one for ":memory:".
 */
export function openSqliteEntryStore(path: string): SqliteEntryStore {
  return new SqliteEntryStore(openDatabase(path, { name: "${name}", migrations }));
}

/**
 * The entry store on one better-sqlite3 connection. Statements are prepared
 * once, at open; each method's statements run synchronously, so an insert and
 * its read-back are never interleaved with another call.
 */
export class SqliteEntryStore implements EntryStore {
  private readonly insert;
  private readonly byRequest;
  private readonly byId;
  private readonly pingStatement;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      "INSERT INTO entries (entry_id, request_id, title, created_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
    );
    this.byRequest = db.prepare<[string], EntryRow>("SELECT * FROM entries WHERE request_id = ?");
    this.byId = db.prepare<[string], EntryRow>("SELECT * FROM entries WHERE entry_id = ?");
    this.pingStatement = db.prepare("SELECT 1");
  }

  async insertOnce(requestId: string, entry: Entry): Promise<StoredEntry> {
    this.insert.run(entry.entryId, requestId, entry.title, entry.createdAt.getTime());
    const row = this.byRequest.get(requestId);
    if (row === undefined) {
      throw new Error(\`entry for request \${requestId} vanished after its insert\`);
    }
    return { entry: toEntry(row), requestId: row.request_id };
  }

  async get(entryId: string): Promise<Entry | undefined> {
    const row = this.byId.get(entryId);
    return row === undefined ? undefined : toEntry(row);
  }

  /** A trivial query, for readiness: throws once the database is closed or unusable. */
  ping(): void {
    this.pingStatement.get();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function toEntry(row: EntryRow): Entry {
  return { entryId: row.entry_id, title: row.title, createdAt: new Date(row.created_at_ms) };
}
`,

    [`${dir}/postgres-store.ts`]: `import type { Logger } from "pino";
import { openPostgres, prepared } from "../../mesh/postgres/postgres-database.js";
import type { Entry } from "./entry.js";
import type { EntryStore } from "./entry-store.js";
import { postgresMigrations } from "./migrations.js";

interface EntryRow {
  entry_id: string;
  request_id: string;
  title: string;
  created_at_ms: string | number;
}

const sql = {
  insert: prepared(
    "INSERT INTO entries (entry_id, request_id, title, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
  ),
  byRequest: prepared("SELECT * FROM entries WHERE request_id = $1"),
  byId: prepared("SELECT * FROM entries WHERE entry_id = $1"),
};

/** Connects to the ${name} database \`url\` names and migrates it to the latest schema. */
export async function openPostgresEntryStore(url: string, options: { logger?: Logger } = {}): Promise<EntryStore> {
  const db = await openPostgres(url, { name: "${name}", migrations: postgresMigrations, ...options });
  return {
    async insertOnce(requestId, entry) {
      await db.pool.query(sql.insert([entry.entryId, requestId, entry.title, entry.createdAt.getTime()]));
      const { rows } = await db.pool.query<EntryRow>(sql.byRequest([requestId]));
      if (rows[0] === undefined) {
        throw new Error(\`entry for request \${requestId} vanished after its insert\`);
      }
      return { entry: toEntry(rows[0]), requestId: rows[0].request_id };
    },
    async get(entryId) {
      const { rows } = await db.pool.query<EntryRow>(sql.byId([entryId]));
      return rows[0] === undefined ? undefined : toEntry(rows[0]);
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

function toEntry(row: EntryRow): Entry {
  return { entryId: row.entry_id, title: row.title, createdAt: new Date(Number(row.created_at_ms)) };
}
`,

    [`${dir}/open-store.ts`]: `import type { Logger } from "pino";
import type { StoreLocation } from "../../mesh/store/store-from-env.js";
import type { EntryStore } from "./entry-store.js";
import { openPostgresEntryStore } from "./postgres-store.js";
import { openSqliteEntryStore } from "./sqlite-store.js";

/** The entry store at \`location\`: SQLite (the embedded default) or PostgreSQL. */
export async function openEntryStore(location: StoreLocation, options: { logger?: Logger } = {}): Promise<EntryStore> {
  return location.engine === "sqlite" ? openSqliteEntryStore(location.path) : openPostgresEntryStore(location.url, options);
}
`,

    [`${dir}/store.test.ts`]: `import { expect } from "chai";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import { openEntryStore } from "./open-store.js";

const entry = { entryId: "e-1", title: "First", createdAt: new Date(Date.UTC(2030, 0, 1)) };

/** The store port on both engines: SQLite and a real PostgreSQL. */
for (const engine of storeEngines) {
  describe(\`${name}: entry store on \${engine}\`, () => {
    let fresh: FreshStore;

    beforeEach(async () => {
      fresh = await freshStore(engine, "${name}");
    });
    afterEach(() => fresh.dispose());

    it("creates the schema once, and keeps entries across a reopen", async () => {
      const store = await openEntryStore(fresh.location);
      expect(await store.insertOnce("req-1", entry)).to.deep.equal({ entry, requestId: "req-1" });
      await store.close();
      const reopened = await openEntryStore(fresh.location);
      expect(await fresh.schemaVersion()).to.equal(1);
      expect(await reopened.get("e-1")).to.deep.equal(entry);
      expect(await reopened.get("e-2")).to.equal(undefined);
      await reopened.close();
    });

    it("stores one entry per request id, returning the first to a retry", async () => {
      const store = await openEntryStore(fresh.location);
      await store.insertOnce("req-1", entry);
      const retry = await store.insertOnce("req-1", { ...entry, entryId: "e-2", title: "Second" });
      expect(retry).to.deep.equal({ entry, requestId: "req-1" });
      expect(await store.get("e-2")).to.equal(undefined);
      await store.close();
    });
  });
}
`,

    [`${dir}/handler.ts`]: `import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { EntrySchema, type Entry as EntryMessage, type ${S} } from "../../gen/meshwork/${name}/v1/${name}_pb.js";
import type { Entries } from "./entries.js";
import type { Entry } from "./entry.js";

/**
 * ${S} over the domain: proto in, domain call, proto out. Requests arrive
 * validated by the mesh (protovalidate rules in the contract).
 */
export function create${P}Handler(entries: Entries): ServiceImpl<typeof ${S}> {
  return {
    async createEntry(request) {
      return { entry: toMessage(await entries.create(request.requestId, request.title)) };
    },
    async getEntry(request) {
      return { entry: toMessage(await entries.get(request.entryId)) };
    },
  };
}

function toMessage(entry: Entry): EntryMessage {
  return create(EntrySchema, { entryId: entry.entryId, title: entry.title, createdAt: timestampFromMs(entry.createdAt.getTime()) });
}
`,

    [`${dir}/entries.test.ts`]: `import { expect } from "chai";
import { Code, ConnectError, reasonOf } from "../../mesh/index.js";
import { Entries } from "./entries.js";
import { openSqliteEntryStore, type SqliteEntryStore } from "./sqlite-store.js";

/** The ${name} domain on its real store (in-memory SQLite). */
describe("${name}: Entries", () => {
  let store: SqliteEntryStore;
  let entries: Entries;

  beforeEach(() => {
    store = openSqliteEntryStore(":memory:");
    entries = new Entries({ store, now: () => Date.UTC(2030, 0, 1) });
  });
  afterEach(() => store.close());

  it("creates an entry and reads it back", async () => {
    const entry = await entries.create("req-1", "First");
    expect(entry.title).to.equal("First");
    expect(entry.createdAt).to.deep.equal(new Date(Date.UTC(2030, 0, 1)));
    expect(await entries.get(entry.entryId)).to.deep.equal(entry);
  });

  it("returns the first entry for a retried request id", async () => {
    const first = await entries.create("req-1", "First");
    expect(await entries.create("req-1", "First")).to.deep.equal(first);
  });

  it("refuses a request id reused with another title", async () => {
    await entries.create("req-1", "First");
    const err = ConnectError.from(await failing(entries.create("req-1", "Second")));
    expect([err.code, reasonOf(err)]).to.deep.equal([Code.FailedPrecondition, "REQUEST_ID_REUSED"]);
  });

  it("answers NotFound for an unknown entry", async () => {
    const err = ConnectError.from(await failing(entries.get("nope")));
    expect([err.code, reasonOf(err)]).to.deep.equal([Code.NotFound, "ENTRY_NOT_FOUND"]);
  });
});

async function failing(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  return expect.fail("expected a failure");
}
`,

    [`${dir}/handler.test.ts`]: `import { timestampDate } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { pino } from "pino";
import { ${S} } from "../../gen/meshwork/${name}/v1/${name}_pb.js";
import { ClientFactory, Code, ConnectError, reasonOf, registration, serve, type MeshServer } from "../../mesh/index.js";
import { Entries } from "./entries.js";
import { create${P}Handler } from "./handler.js";
import { openSqliteEntryStore, type SqliteEntryStore } from "./sqlite-store.js";

async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  return expect.fail("expected the call to fail");
}

/** The contract on the wire: ${S} served by the real server (validation, errors) on an ephemeral port. */
describe("${name}: ${S} over serve()", () => {
  let store: SqliteEntryStore;
  let server: MeshServer;
  let clients: ClientFactory;
  const client = () => clients.client(${S}, server.url);

  beforeEach(async () => {
    store = openSqliteEntryStore(":memory:");
    server = await serve({
      services: [registration(${S}, create${P}Handler(new Entries({ store, now: () => Date.UTC(2030, 0, 1) })))],
      logger: pino({ enabled: false }),
      port: 0,
    });
    clients = new ClientFactory();
  });
  afterEach(async () => {
    clients.close();
    await server.shutdown();
    await store.close();
  });

  it("creates an entry once per request id and gets it", async () => {
    const { entry } = await client().createEntry({ requestId: "req-1", title: "First" });
    expect(entry?.title).to.equal("First");
    expect(timestampDate(entry!.createdAt!)).to.deep.equal(new Date(Date.UTC(2030, 0, 1)));
    expect((await client().createEntry({ requestId: "req-1", title: "First" })).entry?.entryId).to.equal(entry?.entryId);
    expect((await client().getEntry({ entryId: entry!.entryId })).entry).to.deep.equal(entry);
  });

  it("refuses an invalid request with InvalidArgument naming the field", async () => {
    const err = await refusal(client().createEntry({ requestId: "req 1", title: "" }));
    expect(err.code).to.equal(Code.InvalidArgument);
    expect(err.rawMessage).to.contain("request_id").and.contain("title");
  });

  it("answers FailedPrecondition for a reused request id and NotFound for an unknown entry", async () => {
    await client().createEntry({ requestId: "req-1", title: "First" });
    const reused = await refusal(client().createEntry({ requestId: "req-1", title: "Other" }));
    expect([reused.code, reasonOf(reused)]).to.deep.equal([Code.FailedPrecondition, "REQUEST_ID_REUSED"]);
    const missing = await refusal(client().getEntry({ entryId: "nope" }));
    expect([missing.code, reasonOf(missing)]).to.deep.equal([Code.NotFound, "ENTRY_NOT_FOUND"]);
  });
});
`,

    [`test/e2e/${name}.test.ts`]: isPublic ? publicEndToEnd(name, S) : internalEndToEnd(name, S),
  };
}

function internalEndToEnd(name: string, S: string): string {
  return `import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ${S} } from "../../gen/meshwork/${name}/v1/${name}_pb.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { TestClients } from "../support/test-identity.js";

/** ${name} as its own process, over gRPC, its data surviving a restart. */
describe("${name}: end to end, its own process", function () {
  this.timeout(60_000);
  let dir: string;
  let service: ServiceProcess;
  const clients = new TestClients();

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-${name}-"));
    service = await startService("${name}", { DATA_DIR: dir });
  });
  after(async () => {
    clients.close();
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates an entry and still has it after a restart", async () => {
    const { entry } = await clients.client(${S}, service.url).createEntry({ requestId: "e2e-1", title: "Kept" });
    service = await service.restart();
    const again = await clients.client(${S}, service.url).getEntry({ entryId: entry!.entryId });
    expect(again.entry?.title).to.equal("Kept");
  });
});
`;
}

function publicEndToEnd(name: string, S: string): string {
  return `import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { signDevToken } from "../../gateway/auth/dev-token.js";
import { httpRequest } from "../support/gateway-http.js";
import { startService, type ServiceProcess } from "../support/service-process.js";

/**
 * ${name} as its own process behind the real gateway, configured only by
 * gateway/gateway.yaml and the access policy: its REST routes answer with
 * the policy applied, and /mesh shows it with its owner.
 */
describe("${name}: end to end, through the gateway", function () {
  this.timeout(90_000);
  let dir: string;
  let service: ServiceProcess;
  let gateway: ServiceProcess;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-${name}-"));
    service = await startService("${name}", { DATA_DIR: dir });
    gateway = await startService("gateway", {
      DATA_DIR: dir,
      ${envPrefix(name)}_URL: service.url,
      MESH_SERVICES: \`${name}=\${service.url}\`,
      MESH_POLL_MS: "200",
    });
  });
  after(async () => {
    await gateway?.stop();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates an entry for a customer and reads it publicly over REST", async () => {
    const token = await signDevToken(path.join(dir, "auth"), { subject: "alice" });
    const created = await httpRequest(gateway.url, {
      method: "POST",
      path: "/v1/${name}/entries",
      headers: { authorization: \`Bearer \${token}\`, "content-type": "application/json" },
      body: JSON.stringify({ requestId: "e2e-1", title: "Through the edge" }),
    });
    expect(created.status, created.text).to.equal(200);
    const entry = (created.json as { entry: { entryId: string; title: string } }).entry;
    expect(entry.title).to.equal("Through the edge");

    const read = await httpRequest(gateway.url, { path: \`/v1/${name}/entries/\${entry.entryId}\` });
    expect(read.status, read.text).to.equal(200);
    expect((read.json as { entry: { title: string } }).entry.title).to.equal("Through the edge");
  });

  it("applies the access policy: creating needs a customer's token (401), a bad request is 400, an unknown entry 404", async () => {
    const anonymous = await httpRequest(gateway.url, {
      method: "POST",
      path: "/v1/${name}/entries",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ requestId: "e2e-2", title: "No token" }),
    });
    expect(anonymous.status, anonymous.text).to.equal(401);
    const token = await signDevToken(path.join(dir, "auth"), { subject: "alice" });
    const invalid = await httpRequest(gateway.url, {
      method: "POST",
      path: "/v1/${name}/entries",
      headers: { authorization: \`Bearer \${token}\`, "content-type": "application/json" },
      body: JSON.stringify({ requestId: "e2e-3", title: "" }),
    });
    expect(invalid.status, invalid.text).to.equal(400);
    const missing = await httpRequest(gateway.url, { path: "/v1/${name}/entries/nope" });
    expect(missing.status, missing.text).to.equal(404);
  });

  it("appears on /mesh with its owner from the catalogue", async () => {
    // The /mesh data is for operators: an admin token.
    const admin = await signDevToken(path.join(dir, "auth"), { subject: "ops", scopes: ["meshwork:admin"] });
    let service: { name: string; owner?: string; state: string } | undefined;
    for (let i = 0; i < 100 && service?.state !== "up"; i++) {
      const status = await httpRequest(gateway.url, { path: "/mesh/status.json", headers: { authorization: \`Bearer \${admin}\` } });
      expect(status.status, status.text).to.equal(200);
      service = (status.json as { services: { name: string; owner?: string; state: string }[] }).services.find((s) => s.name === "${name}");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(service).to.include({ name: "${name}", owner: "${name} team", state: "up" });
  });
});
`;
}
