import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startService, type ServiceProcess } from "./service-process.js";

/** The demo shop's three services, each its own process, on ephemeral ports. */
export interface TestMesh {
  readonly dataDir: string;
  readonly inventory: ServiceProcess;
  readonly payments: ServiceProcess;
  readonly orders: ServiceProcess;
  /** Stops every process (SIGTERM) and removes the data directory. */
  stop(): Promise<void>;
}

export async function startMesh(extraEnv: Record<string, string> = {}): Promise<TestMesh> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-e2e-"));
  const env = { DATA_DIR: dataDir, ...extraEnv };
  const [inventory, payments] = await Promise.all([startService("inventory", env), startService("payments", env)]);
  const orders = await startService("orders", { ...env, INVENTORY_URL: inventory.url, PAYMENTS_URL: payments.url });
  return {
    dataDir,
    inventory,
    payments,
    orders,
    async stop() {
      await Promise.all([orders.stop(), inventory.stop(), payments.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
