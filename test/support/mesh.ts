import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startBuiltService, startService as startSource, type ServiceProcess } from "./service-process.js";

/** The demo shop's services, each its own process, on ephemeral ports. */
export interface TestMesh {
  readonly dataDir: string;
  readonly inventory: ServiceProcess;
  readonly payments: ServiceProcess;
  readonly orders: ServiceProcess;
  /** Consumes orders' events: from orders' port on the embedded bus, or from NATS when `env` sets NATS_URL. */
  readonly notifications: ServiceProcess;
  /** The edge gateway in front of them, when started with `gateway`. */
  readonly gateway?: ServiceProcess;
  /** Stops every process (SIGTERM) and removes the data directory. */
  stop(): Promise<void>;
}

export interface StartMeshOptions {
  /** Environment for every process (e.g. NATS_URL to put events on NATS). */
  readonly env?: Record<string, string>;
  /** Also start the gateway (its dev keys go under the data directory), with this extra environment. */
  readonly gateway?: Record<string, string>;
  /** Run the built mains of this `make build` output folder with plain node, instead of the sources under tsx. */
  readonly dist?: string;
}

export async function startMesh(options: StartMeshOptions | Record<string, string> = {}): Promise<TestMesh> {
  const { env: extraEnv = {}, gateway: gatewayEnv, dist } = isOptions(options) ? options : { env: options };
  const startService = (name: string, env: Record<string, string>): Promise<ServiceProcess> =>
    dist === undefined ? startSource(name, env) : startBuiltService(dist, name, env);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-e2e-"));
  const env = { DATA_DIR: dataDir, ...extraEnv };
  const [inventory, payments] = await Promise.all([startService("inventory", env), startService("payments", { PAYMENT_PROCESSOR: "simulated", ...env })]);
  const orders = await startService("orders", { ...env, INVENTORY_URL: inventory.url, PAYMENTS_URL: payments.url });
  const notifications = await startService("notifications", { ...env, ORDERS_URL: orders.url });
  const gateway =
    gatewayEnv === undefined
      ? undefined
      : await startService("gateway", {
          ...env,
          INVENTORY_URL: inventory.url,
          ORDERS_URL: orders.url,
          NOTIFICATIONS_URL: notifications.url,
          // What the gateway's /mesh page polls.
          MESH_SERVICES: `inventory=${inventory.url},payments=${payments.url},orders=${orders.url},notifications=${notifications.url}`,
          ...gatewayEnv,
        });
  return {
    dataDir,
    inventory,
    payments,
    orders,
    notifications,
    ...(gateway === undefined ? {} : { gateway }),
    async stop() {
      await Promise.all([gateway?.stop(), notifications.stop(), orders.stop(), inventory.stop(), payments.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function isOptions(value: StartMeshOptions | Record<string, string>): value is StartMeshOptions {
  return "env" in value || "gateway" in value || "dist" in value;
}
