import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ClientFactory } from "../../mesh/index.js";
import { freePort } from "../../test/support/free-port.js";
import { startNatsServer, type NatsServer } from "../../test/support/nats-server.js";
import { buildApiImage } from "../support/api-image.js";
import { Supervisor, type ProcessSpec } from "../supervisor/supervisor.js";

/** The demo's processes, in start order. */
export const meshServices = ["inventory", "payments", "orders", "notifications"] as const;
export type MeshService = (typeof meshServices)[number];

/** A mesh of real processes under `make run`'s supervisor, on free ports, in its own data directory. */
export interface ChaosMesh {
  readonly dataDir: string;
  readonly supervisor: Supervisor;
  readonly urls: Readonly<Record<MeshService | "gateway", string>>;
  /** The nats-server, in NATS mode. */
  readonly nats: NatsServer | undefined;
  stop(): Promise<void>;
}

export interface ChaosMeshOptions {
  /** Events over NATS JetStream (a nats-server of its own) instead of the embedded bus. */
  readonly nats?: boolean;
  /** Keep the data directory (for a look at the databases afterwards). */
  readonly keepData?: boolean;
}

const root = path.resolve(import.meta.dirname, "../..");

/**
 * Starts the mesh as `make run` does, with what chaos needs on top: fault
 * injection armed with no rules (MESH_FAULTS={}, so FaultService can set
 * them), sagas resumed every second, logs at warn, and each customer's rate
 * limit high enough for the load's virtual customers.
 */
export async function startChaosMesh(options: ChaosMeshOptions = {}): Promise<ChaosMesh> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-chaos-"));
  const nats = options.nats === true ? await startNatsServer({ storeDir: path.join(dataDir, "nats") }) : undefined;
  const names = [...meshServices, "gateway"] as const;
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const))) as Record<(typeof names)[number], number>;
  const url = (name: (typeof names)[number]) => `http://127.0.0.1:${ports[name]}`;
  const apiImage = await buildApiImage(path.join(dataDir, "api.binpb"));
  const clients = new ClientFactory();
  const specs: ProcessSpec[] = names.map((name) => ({
    name,
    port: ports[name],
    host: "127.0.0.1",
    command: process.execPath,
    args: ["--import", "tsx", path.join(root, name === "gateway" ? "gateway" : `services/${name}`, "main.ts")],
    cwd: root,
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(ports[name]),
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      MESH_FAULTS: "{}",
      // mTLS off in the chaos mesh for now (each process warns at start):
      // its FaultService calls and probes are plaintext. Issuing it
      // certificates from a CA of its own, as make run does, is left to do.
      MESH_INSECURE: "1",
      SAGA_RESUME_MS: "1000",
      RATE_LIMIT_PER_SECOND: "1000",
      RATE_LIMIT_BURST: "1000",
      INVENTORY_URL: url("inventory"),
      PAYMENTS_URL: url("payments"),
      ORDERS_URL: url("orders"),
      NOTIFICATIONS_URL: url("notifications"),
      API_IMAGE: apiImage,
      MESH_SERVICES: meshServices.map((n) => `${n}=${url(n)}`).join(","),
      ...(nats === undefined ? {} : { NATS_URL: nats.url }),
    },
    isServing: async () => {
      if (name === "gateway") {
        const res = await fetch(`${url(name)}/healthz`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      }
      const res = await clients.client(Health, url(name)).check({ service: "" }, { timeoutMs: 1000 });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    },
  }));
  const supervisor = new Supervisor(specs, { stdio: "inherit", startTimeoutMs: 120_000, report: (line) => process.stderr.write(`supervisor: ${line}\n`) });
  const statuses = await supervisor.start();
  const down = statuses.filter((s) => s.state !== "serving");
  if (down.length > 0) {
    await supervisor.stop();
    clients.close();
    await nats?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`the chaos mesh did not come up: ${down.map((s) => `${s.name} ${s.state}`).join(", ")}`);
  }
  return {
    dataDir,
    supervisor,
    urls: Object.fromEntries(names.map((n) => [n, url(n)])) as Record<(typeof names)[number], string>,
    nats,
    async stop() {
      await supervisor.stop();
      clients.close();
      await nats?.stop();
      if (options.keepData !== true) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
