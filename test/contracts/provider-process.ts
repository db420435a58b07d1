import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startMesh } from "../support/mesh.js";
import { startService } from "../support/service-process.js";
import type { RunningProvider } from "./support.js";

/** A leaf service (inventory, payments) as its own process on a new, migrated data directory. */
export async function startLeafProvider(name: string): Promise<RunningProvider> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `meshwork-provider-${name}-`));
  const service = await startService(name, { DATA_DIR: dataDir });
  return {
    url: service.url,
    async stop() {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The orders service with the real inventory and payments behind it, all on one new data directory. */
export async function startOrdersProvider(): Promise<RunningProvider> {
  const mesh = await startMesh();
  return { url: mesh.orders.url, stop: () => mesh.stop() };
}
