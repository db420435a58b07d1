// A benchmark's results file, bench/results/<name>.json, and the facts every
// run records in it: how it was started and the versions it ran.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The command line that ran `scriptUrl` (a bench's import.meta.url), as someone would type it to run it again. */
export function benchCommand(scriptUrl: string): string {
  const script = relative(root, fileURLToPath(scriptUrl));
  return [process.env.npm_lifecycle_event === "npx" ? "npx tsx" : "node --import tsx", script, ...process.argv.slice(2)].join(" ");
}

/** The installed version of package `name`. */
export function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
}

/** Writes `results` as bench/results/<name>.json (indented, in the given field order) and says where. */
export function writeResults(name: string, results: Record<string, unknown>): void {
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
}
