// `make run`: the whole mesh on one machine, the embedded default. Every
// service runs as its own OS process (as it would deployed) on its own port,
// with its own SQLite file under .data/; they reach each other only over the
// network. With STORE=postgres every service that owns data gets its own
// database (meshwork_<service>, made when missing) on the PostgreSQL server
// POSTGRES_URL names instead. Prints a table of processes once all report
// SERVING; a process that exits unexpectedly is restarted with backoff and
// counted (a port already in use stops it at start, naming the port); Ctrl-C
// (or SIGTERM) stops every process gracefully and exits 0.
//
// mTLS is on unless MESH_INSECURE=1: this supervisor is the mesh's CA. It
// keeps a root and an intermediate in .data/ca (0700, keys 0600), issues each
// process its identity spiffe://<MESH_TRUST_DOMAIN>/service/<name> into
// .data/tls/<name> (MESH_TLS_DIR), valid MESH_CERT_TTL_SECONDS (default 1 h),
// and renews it at half its life; processes reload the files themselves.
//
// It is the development mode (MESH_ENV=development, set on every process; the
// table's caption says so): the gateway signs its own tokens and payments runs
// a simulated processor, fallbacks MESH_ENV=production refuses. A calling
// shell's MESH_ENV=production stops it at start.
//
// Payments runs the card processor PAYMENT_PROCESSOR names, `simulated` (the
// only one shipped) unless the calling shell says otherwise; the table says
// which.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { openCaDir } from "../mesh/identity/ca-files.js";
import { CredentialRenewer } from "../mesh/identity/credential-renewer.js";
import { ClientFactory, defaultTrustDomain, defaultWorkloadTtlMs, ensureDatabase, envInt, envString, workloadId } from "../mesh/index.js";
import { loadCatalogue } from "../platform/catalogue/index.js";
import { adminScope, devAuthDirName, signDevToken } from "../gateway/auth/index.js";
import { buildApiImage } from "./support/api-image.js";
import { processTable } from "./supervisor/process-table.js";
import { PortsInUseError, Supervisor, type ProcessSpec } from "./supervisor/supervisor.js";

const root = path.resolve(import.meta.dirname, "..");
const host = envString(process.env, "MESH_HOST", "127.0.0.1");
const dataDir = path.resolve(root, envString(process.env, "MESH_DATA_DIR", ".data"));
const logLevel = envString(process.env, "LOG_LEVEL", "info");
// Every service of the catalogue (services/*/service.yaml) and the gateway,
// each on its catalogue port unless <NAME>_PORT says otherwise.
const manifests = loadCatalogue(root).services.map((s) => s.manifest);
const services = manifests.filter((m) => m.name !== "gateway").sort((a, b) => a.port - b.port);
const gateway = manifests.find((m) => m.name === "gateway");
if (gateway === undefined) {
  throw new Error("the catalogue has no gateway (gateway/service.yaml)");
}
const envPrefix = (name: string): string => name.toUpperCase().replaceAll("-", "_");
const ports = new Map(
  [...services, gateway].map((m) => [m.name, envInt(process.env, `${envPrefix(m.name)}_PORT`, m.port, { min: 1, max: 65535 })]),
);
const insecure = envString(process.env, "MESH_INSECURE", "0") === "1";
const trustDomain = envString(process.env, "MESH_TRUST_DOMAIN", defaultTrustDomain);
const meshEnv = envString(process.env, "MESH_ENV", "development");
if (meshEnv !== "development") {
  throw new Error(
    `MESH_ENV=${meshEnv}: make run is the development mode (a generated signing key, the simulated card processor); ` +
      "production mode is for deployed processes (README: Production mode)",
  );
}
const paymentProcessor = envString(process.env, "PAYMENT_PROCESSOR", "simulated");
const ttlMs = envInt(process.env, "MESH_CERT_TTL_SECONDS", defaultWorkloadTtlMs / 1000, { min: 10 }) * 1000;
/** Health, probes and metrics answer in cleartext on every port; the gateway's public port is cleartext HTTP. */
// eslint-disable-next-line @microsoft/sdl/no-insecure-url -- these listeners speak plaintext by design (mTLS is on the RPC URLs below); https here would be false
const url = (port: number): string => `http://${host}:${port}`;
/** Where a service's RPCs are: https over mTLS. */
const serviceUrl = (name: string): string => `${insecure ? "http" : "https"}://${host}:${ports.get(name)!}`;
const gatewayPort = ports.get("gateway")!;

// CANARY=<service> runs a second process of that service as version
// "canary" (SERVICE_VERSION) on <NAME>_CANARY_PORT (its port + 10), with
// CANARY_FAULTS as its MESH_FAULTS (to rehearse a bad release); its callers
// then know both versions, and the routes file decides who gets which
// (README: Progressive delivery; make canary shifts the weights).
const canaryOf = envString(process.env, "CANARY", "");
const canary = canaryOf === "" ? undefined : services.find((m) => m.name === canaryOf);
if (canaryOf !== "" && canary === undefined) {
  throw new Error(`CANARY=${canaryOf}: no such service (one of ${services.map((m) => m.name).join(", ")})`);
}
const canaryPort = canary === undefined ? 0 : envInt(process.env, `${envPrefix(canary.name)}_CANARY_PORT`, canary.port + 10, { min: 1, max: 65535 });
const canaryUrl = `${insecure ? "http" : "https"}://${host}:${canaryPort}`;
/** The processes whose mains read their upstreams' versions (envTargetEndpoints): the gateway's config and orders. */
const routingCallers = new Set(["gateway", "orders"]);
const upstreamUrl = (caller: string, name: string): string =>
  canary?.name === name && routingCallers.has(caller) ? `stable=${serviceUrl(name)};canary=${canaryUrl}` : serviceUrl(name);
// Routing rules every process watches (mesh/routing): none until an operator or make canary writes some.
const routesFile = path.join(dataDir, "routes.json");

mkdirSync(dataDir, { recursive: true });
const databaseUrls = await serviceDatabases();
if (!existsSync(routesFile)) {
  writeFileSync(routesFile, "{}\n");
}
// The gateway reads its services' descriptors from this image (gateway/gateway.yaml).
const apiImage = await buildApiImage(path.join(dataDir, "api.binpb"));
const renewers: CredentialRenewer[] = [];
const tlsDirs = new Map<string, string>();
if (insecure) {
  console.warn("MESH_INSECURE=1: mTLS is off. Every port answers anyone in cleartext and no caller is checked; for debugging only.");
} else {
  const ca = await openCaDir(path.join(dataDir, "ca"), trustDomain);
  for (const { name } of [...services, gateway]) {
    const dir = path.join(dataDir, "tls", name);
    tlsDirs.set(name, dir);
    renewers.push(
      await CredentialRenewer.start({
        ca,
        id: workloadId(trustDomain, "service", name),
        dir,
        ttlMs,
        onError: (err) => console.error(`renewing ${name}'s certificate failed: ${err instanceof Error ? err.message : String(err)}`),
      }),
    );
  }
}
const clients = new ClientFactory();
const spec = (name: string, main: string, port: number, extraEnv: Record<string, string> = {}): ProcessSpec => ({
  name,
  port,
  host,
  command: process.execPath,
  args: ["--import", "tsx", path.join(root, main === "gateway" ? "gateway" : `services/${main}`, "main.ts")],
  cwd: root,
  env: {
    ...process.env,
    HOST: host,
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: logLevel,
    MESH_ENV: meshEnv,
    ...(insecure ? { MESH_INSECURE: "1" } : { MESH_TLS_DIR: tlsDirs.get(main)!, MESH_INSECURE: "" }),
    // Where every service is: <NAME>_URL (ORDERS_URL is also the embedded
    // bus's source of order events for notifications; NATS_URL, when set,
    // passes through to all).
    ...Object.fromEntries(services.map((m) => [`${envPrefix(m.name)}_URL`, upstreamUrl(main, m.name)])),
    API_IMAGE: apiImage,
    // Each service its own database: a DATABASE_URL of the calling shell is not passed on to all of them.
    DATABASE_URL: databaseUrls.get(main) ?? "",
    DATABASE_URL_FILE: "",
    MESH_ROUTES_FILE: routesFile,
    // Chosen here, not left to payments' fallback (services/payments/main.ts).
    PAYMENT_PROCESSOR: paymentProcessor,
    // What the gateway's /mesh page polls.
    MESH_SERVICES: [
      ...services.map((m) => `${m.name}=${serviceUrl(m.name)}`),
      ...(canary === undefined ? [] : [`${canary.name}-canary=${canaryUrl}`]),
    ].join(","),
    ...extraEnv,
  },
  isServing: () => isServing(main, port),
});
const specs: ProcessSpec[] = [...services, gateway].map(({ name }) => spec(name, name, ports.get(name)!));
if (canary !== undefined) {
  const faults = envString(process.env, "CANARY_FAULTS", "");
  // After its service, so the table and the start order read naturally.
  specs.splice(specs.findIndex((s) => s.name === canary.name) + 1, 0, spec(`${canary.name}-canary`, canary.name, canaryPort, {
    SERVICE_VERSION: "canary",
    ...(faults === "" ? {} : { MESH_FAULTS: faults }),
  }));
}

// What the table says beside a process: the card processor payments (and its canary) run.
const processorNote = `card processor: ${paymentProcessor} (PAYMENT_PROCESSOR)${paymentProcessor === "simulated" ? ", test tokens for anyone" : ""}`;
const notes = new Map(
  specs.filter((s) => s.name === "payments" || s.name === "payments-canary").map((s) => [s.name, processorNote] as const),
);
const caption =
  "Development mode (MESH_ENV=development): the gateway trusts its own generated signing key, payments a simulated card processor; " +
  'README "Production mode" says what a deployment sets instead';
const table = (): string => processTable(supervisor.status(), address, { caption, notes });

// A process that exits unexpectedly is restarted with backoff (scripts/supervisor/),
// counted in the table and on /mesh; a crash loop is reported.
const supervisor = new Supervisor(specs);
supervisor.on("serving", (p) => {
  if (p.restarts > 0) {
    console.log(`${p.name} is SERVING again (pid ${p.pid}, restart ${p.restarts})`);
    console.log(table());
  }
});
let stopping = false;
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));

try {
  await supervisor.start();
} catch (err) {
  console.error(err instanceof PortsInUseError ? err.message : err);
  await stop(1);
}
console.log(table());
// The /mesh page's data and the gateway's /metrics are for operators (an
// admin token). Prometheus (prometheus/prometheus.yml) reads one from this
// file, signed with the dev key as `make token` does, for a week of running.
const prometheusToken = path.join(dataDir, "prometheus", "gateway.token");
mkdirSync(path.dirname(prometheusToken), { recursive: true, mode: 0o700 });
writeFileSync(prometheusToken, await signDevToken(path.join(dataDir, devAuthDirName), { subject: "prometheus", scopes: [adminScope], ttlSec: 7 * 24 * 3600 }), { mode: 0o600 });
console.log(`Live mesh page: ${url(gatewayPort)}/mesh (for operators: give it the token of make -s token SUB=<you> SCOPE=${adminScope})`);
const shownToken = prometheusToken.startsWith(root + path.sep) ? path.relative(root, prometheusToken) : prometheusToken;
console.log(`Prometheus: prometheus --config.file=prometheus/prometheus.yml (the gateway's /metrics with the admin token in ${shownToken})`);
if (!insecure) {
  console.log(
    `mTLS on: identities spiffe://${trustDomain}/service/<name>, renewed every ${Math.round(ttlMs / 2000)} s; ` +
      "an operator certificate for buf curl: make cert NAME=<you>-operator",
  );
}

/** A process's address in the table: the gateway's public HTTP, a service's RPC URL. */
function address(port: number): string {
  return port === gatewayPort ? url(port) : `${insecure ? "http" : "https"}://${host}:${port}`;
}
console.log("Mesh is up. Ctrl-C stops it.");

/**
 * STORE=postgres: each service that owns data gets its own database on the
 * server POSTGRES_URL names (default: a local server on 5432 with the role
 * and password meshwork, see the README), made when missing. Otherwise none:
 * every service keeps its SQLite file.
 */
async function serviceDatabases(): Promise<Map<string, string>> {
  const store = envString(process.env, "STORE", "sqlite");
  if (store === "sqlite") {
    return new Map();
  }
  if (store !== "postgres") {
    throw new Error(`STORE=${store}: expected sqlite or postgres`);
  }
  const server = envString(process.env, "POSTGRES_URL", "postgres://meshwork:meshwork@127.0.0.1:5432/postgres");
  const owners = services.filter((m) => m.data.length > 0).map((m) => m.name);
  try {
    const urls = await Promise.all(owners.map((name) => ensureDatabase(server, `meshwork_${name.replaceAll("-", "_")}`)));
    return new Map(owners.map((name, i) => [name, urls[i]!]));
  } catch (err) {
    throw new Error(
      `STORE=postgres: cannot reach PostgreSQL through POSTGRES_URL (${err instanceof Error ? err.message : String(err)}); see the README, "Running on PostgreSQL"`,
      { cause: err },
    );
  }
}

/** Services answer grpc.health.v1; the gateway answers GET /healthz. */
async function isServing(name: string, port: number): Promise<boolean> {
  if (name === "gateway") {
    const res = await fetch(`${url(port)}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { status?: string }).status === "SERVING";
  }
  // grpc.health.v1 answers in cleartext, as Kubernetes' gRPC probe asks it.
  const res = await clients.client(Health, url(port)).check({ service: "" }, { timeoutMs: 1000 });
  return res.status === HealthCheckResponse_ServingStatus.SERVING;
}

async function stop(code: number): Promise<void> {
  if (stopping) {
    return;
  }
  stopping = true;
  await supervisor.stop();
  clients.close();
  renewers.forEach((r) => r.stop());
  console.log("Mesh stopped.");
  process.exit(code);
}
