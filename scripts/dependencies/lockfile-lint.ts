import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { promisify } from "node:util";

/** The one registry a locked package may come from (lockfile-lint's alias "npm"). */
export const registryHost = "registry.npmjs.org";

const cli = createRequire(import.meta.url).resolve("lockfile-lint/bin/lockfile-lint.js");

/**
 * lockfile-lint over an npm lockfile: every resolved URL over https from the one registry
 * (no empty host: a file: or git URL is a finding), every integrity hash sha512, every URL
 * naming the package of its entry. It checks what the entries carry: a lock written with
 * omit-lockfile-registry-resolved has no URL to check (integrity-check.ts covers that case).
 * Returns its findings, one line each; none when it passes.
 */
export async function runLockfileLint(lockfile: string): Promise<string[]> {
  const args = [cli, "--path", lockfile, "--type", "npm", "--validate-https", "--allowed-hosts", "npm", "--empty-hostname", "false",
    "--validate-integrity", "--validate-package-names", "--format", "plain"];
  try {
    await promisify(execFile)(process.execPath, args, { env: { ...process.env, NO_COLOR: "1" } });
    return [];
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    // One finding per block of lines ("detected ... for package: <name>@<version>-<hash>",
    // then expected and actual), blocks separated by an empty line.
    const findings = `${stdout ?? ""}\n${stderr ?? ""}`
      .split(/\n\s*\n/)
      .map((block) => block.split("\n").map((line) => line.trim()).filter((line) => line !== "").join("; "))
      .filter((finding) => finding !== "" && !finding.startsWith("Error: security issues detected"));
    return findings.length > 0 ? findings : [`lockfile-lint failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}
