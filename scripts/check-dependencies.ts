// `make deps-check` (part of `make test`): the lockfile, the install scripts and the licenses
// of every locked package, against scripts/dependency-allowlist.json. Exit status: 0 when every
// check passes, 1 with each finding named, 2 on bad usage or a file it cannot read.
//   tsx scripts/check-dependencies.ts [--lock package-lock.json] [--allowlist scripts/dependency-allowlist.json]
// npm audit is not run: its endpoint is not reachable from the machines this runs on (README:
// Static and dependency checks).
import path from "node:path";
import { parseArgs } from "node:util";
import { checkDependencies, type DependencyCheck } from "./dependencies/check-dependencies.js";

const root = path.resolve(import.meta.dirname, "..");
const usage = "usage: tsx scripts/check-dependencies.ts [--lock <package-lock.json>] [--allowlist <dependency-allowlist.json>]";

async function main(): Promise<number> {
  let lock: string;
  let allowlist: string;
  try {
    ({ values: { lock, allowlist } } = parseArgs({
      options: {
        lock: { type: "string", default: path.join(root, "package-lock.json") },
        allowlist: { type: "string", default: path.join(root, "scripts", "dependency-allowlist.json") },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
    return 2;
  }
  let checks: DependencyCheck[];
  try {
    checks = await checkDependencies(lock, allowlist);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 2;
  }
  for (const check of checks) {
    console.log(check.findings.length === 0 ? `ok   ${check.name}: ${check.passed}` : `FAIL ${check.name}:`);
    for (const finding of check.findings) {
      console.log(`  - ${finding}`);
    }
  }
  if (checks.some((check) => check.findings.length > 0)) {
    console.log(`\nThe allowlists are in ${allowlist}: a new entry needs a reason a reviewer can check.`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
