import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

/**
 * Builds the repository's contracts into a buf image with imports at `out`
 * (`buf build proto -o out`): the descriptors the gateway config names, and
 * the comments of the OpenAPI document. Offline: buf from node_modules.
 */
export async function buildApiImage(out: string): Promise<string> {
  try {
    await run(path.join(root, "node_modules", ".bin", "buf"), ["build", "proto", "-o", out], { cwd: root });
  } catch (err) {
    const { stderr = "" } = err as { stderr?: string };
    throw new Error(`buf build proto -o ${out} failed: ${stderr}`, { cause: err });
  }
  return out;
}
