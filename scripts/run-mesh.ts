// `make run`: the whole mesh on one machine, the embedded default. Every
// service runs as its own OS process (as it would deployed) on its own port,
// with its own SQLite file under .data/; they reach each other only over the
// network. Prints a table of processes once all report SERVING; Ctrl-C (or
// SIGTERM) stops every process gracefully and exits 0.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ClientFactory, envInt, envString } from "../mesh/index.js";
import { loadCatalogue } from "../platform/catalogue/index.js";
import { buildApiImage } from "./support/api-image.js";

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
const url = (port: number): string => `http://${host}:${port}`;
const serviceUrl = (name: string): string => url(ports.get(name)!);

interface Process {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
}

mkdirSync(dataDir, { recursive: true });
// The gateway reads its services' descriptors from this image (gateway/gateway.yaml).
const apiImage = await buildApiImage(path.join(dataDir, "api.binpb"));
const processes: Process[] = [...services, gateway].map(({ name }) => ({
  name,
  port: ports.get(name)!,
  child: spawn(process.execPath, ["--import", "tsx", path.join(root, name === "gateway" ? "gateway" : `services/${name}`, "main.ts")], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      HOST: host,
      PORT: String(ports.get(name)),
      DATA_DIR: dataDir,
      LOG_LEVEL: logLevel,
      // Where every service is: <NAME>_URL (ORDERS_URL is also the embedded
      // bus's source of order events for notifications; NATS_URL, when set,
      // passes through to all).
      ...Object.fromEntries(services.map((m) => [`${envPrefix(m.name)}_URL`, serviceUrl(m.name)])),
      API_IMAGE: apiImage,
      // What the gateway's /mesh page polls.
      MESH_SERVICES: services.map((m) => `${m.name}=${serviceUrl(m.name)}`).join(","),
    },
  }),
}));

let stopping = false;
for (const p of processes) {
  p.child.once("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${p.name} exited unexpectedly (code ${code}, signal ${signal}); stopping the mesh`);
      void stop(1);
    }
  });
}
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));

const clients = new ClientFactory();
const statuses = await Promise.all(processes.map((p) => waitServing(p)));
console.log(
  table(
    ["process", "pid", "address", "health"],
    processes.map((p, i) => [p.name, String(p.child.pid), url(p.port), statuses[i] ?? "?"]),
  ),
);
console.log(`Live mesh page: ${serviceUrl("gateway")}/mesh`);
console.log("Mesh is up. Ctrl-C stops it.");

async function waitServing(p: Process): Promise<string> {
  const giveUp = Date.now() + 60_000;
  while (!stopping && Date.now() < giveUp) {
    try {
      if (await isServing(p)) {
        return "SERVING";
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return "NOT SERVING";
}

/** Services answer grpc.health.v1; the gateway answers GET /healthz. */
async function isServing(p: Process): Promise<boolean> {
  if (p.name === "gateway") {
    const res = await fetch(`${url(p.port)}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { status?: string }).status === "SERVING";
  }
  const res = await clients.client(Health, url(p.port)).check({ service: "" }, { timeoutMs: 1000 });
  return res.status === HealthCheckResponse_ServingStatus.SERVING;
}

async function stop(code: number): Promise<void> {
  if (stopping) {
    return;
  }
  stopping = true;
  clients.close();
  await Promise.all(
    processes.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) {
            resolve();
            return;
          }
          const kill = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
          p.child.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          p.child.kill("SIGTERM");
        }),
    ),
  );
  console.log("Mesh stopped.");
  process.exit(code);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
