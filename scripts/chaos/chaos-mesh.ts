import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { openCaDir } from "../../mesh/identity/ca-files.js";
import type { CredentialFiles } from "../../mesh/identity/credential-files.js";
import { CredentialRenewer } from "../../mesh/identity/credential-renewer.js";
import { ClientFactory, defaultTrustDomain, defaultWorkloadTtlMs, workloadId } from "../../mesh/index.js";
import { freePort } from "../../test/support/free-port.js";
import { startNatsServer, type NatsServer } from "../../test/support/nats-server.js";
import { buildApiImage } from "../support/api-image.js";
import { issueCredentials, operatorTtlMs } from "../support/issue-credentials.js";
import { Supervisor, type ProcessSpec } from "../supervisor/supervisor.js";

/** The demo's processes, in start order. */
export const meshServices = ["inventory", "payments", "orders", "notifications"] as const;
export type MeshService = (typeof meshServices)[number];

/** A mesh of real processes under `make run`'s supervisor, on free ports, in its own data directory. */
export interface ChaosMesh {
  readonly dataDir: string;
  readonly supervisor: Supervisor;
  /** Where each answers calls: a service's RPCs over mTLS (https://), the gateway's public HTTP. */
  readonly urls: Readonly<Record<MeshService | "gateway", string>>;
  /** The same ports in cleartext, where probes and /metrics answer without a client certificate. */
  readonly probeUrls: Readonly<Record<MeshService | "gateway", string>>;
  /** An operator's certificate from the mesh's CA (as `make cert` issues), for FaultService. */
  readonly operatorTls: CredentialFiles;
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
/** The operator chaos calls FaultService as (spiffe://<trust domain>/operator/chaos). */
const operatorName = "chaos";

/**
 * Starts the mesh as `make run` does, mTLS included: a CA of its own in the
 * data directory (ca/), each process's identity issued into tls/<name> and
 * renewed at half its life, a certificate for the nats-server in NATS mode
 * (TLS required, mesh certificates as credentials, as `make nats-config`
 * writes it) and an operator's for chaos itself (tls/operators/chaos). On
 * top, what chaos needs: fault injection armed with no rules (MESH_FAULTS={},
 * so FaultService can set them), sagas resumed every second, logs at warn,
 * and each customer's rate limit high enough for the load's virtual customers.
 */
export async function startChaosMesh(options: ChaosMeshOptions = {}): Promise<ChaosMesh> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-chaos-"));
  const trustDomain = defaultTrustDomain;
  const ca = await openCaDir(path.join(dataDir, "ca"), trustDomain);
  const names = [...meshServices, "gateway"] as const;
  const renewers = await Promise.all(
    names.map((name) =>
      CredentialRenewer.start({
        ca,
        id: workloadId(trustDomain, "service", name),
        dir: path.join(dataDir, "tls", name),
        ttlMs: defaultWorkloadTtlMs,
        onError: (err) => process.stderr.write(`renewing ${name}'s certificate failed: ${err instanceof Error ? err.message : String(err)}\n`),
      }),
    ),
  );
  const operatorTls = (await issueCredentials(ca, dataDir, { kind: "operator", name: operatorName, ttlMs: operatorTtlMs })).files;
  let nats: NatsServer | undefined;
  if (options.nats === true) {
    const { files } = await issueCredentials(ca, dataDir, { kind: "service", name: "nats", ttlMs: 8 * 3600_000 });
    const storeDir = path.join(dataDir, "nats");
    mkdirSync(storeDir, { recursive: true });
    nats = await startNatsServer({ storeDir, tls: { files, trustDomain } });
  }
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const))) as Record<(typeof names)[number], number>;
  const probeUrl = (name: (typeof names)[number]) => `http://127.0.0.1:${ports[name]}`;
  const url = (name: (typeof names)[number]) => (name === "gateway" ? probeUrl(name) : `https://127.0.0.1:${ports[name]}`);
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
      MESH_TLS_DIR: path.join(dataDir, "tls", name),
      MESH_INSECURE: "",
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
    // Probes answer in cleartext on every port, as Kubernetes' gRPC probe asks them.
    isServing: async () => {
      if (name === "gateway") {
        const res = await fetch(`${probeUrl(name)}/healthz`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      }
      const res = await clients.client(Health, probeUrl(name)).check({ service: "" }, { timeoutMs: 1000 });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    },
  }));
  const supervisor = new Supervisor(specs, { stdio: "inherit", startTimeoutMs: 120_000, report: (line) => process.stderr.write(`supervisor: ${line}\n`) });
  const release = async (): Promise<void> => {
    await supervisor.stop();
    clients.close();
    renewers.forEach((r) => r.stop());
    await nats?.dispose();
  };
  const statuses = await supervisor.start();
  const down = statuses.filter((s) => s.state !== "serving");
  if (down.length > 0) {
    await release();
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`the chaos mesh did not come up: ${down.map((s) => `${s.name} ${s.state}`).join(", ")}`);
  }
  return {
    dataDir,
    supervisor,
    urls: Object.fromEntries(names.map((n) => [n, url(n)])) as Record<(typeof names)[number], string>,
    probeUrls: Object.fromEntries(names.map((n) => [n, probeUrl(n)])) as Record<(typeof names)[number], string>,
    operatorTls,
    nats,
    async stop() {
      await release();
      if (options.keepData !== true) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
