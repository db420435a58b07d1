// `make chaos`: named failure scenarios under `make load`'s traffic, each
// ending in a verdict judged from the services' databases (and counters),
// not from their logs. Starts its own mesh per scenario, on free ports.
//   tsx scripts/chaos.ts [--scenario kill|slow|flaky|outage|bus|all] [--short] [--rate 20] [--out <dir>]
// --short is CI's form (20 s of load each); without it each runs 60 s.
// Exits 0 when every verdict held, 1 when one did not, 2 on bad arguments.
import path from "node:path";
import { parseArgs } from "node:util";
import { runScenario, type ScenarioResult } from "./chaos/run-scenario.js";
import { scenarios } from "./chaos/scenarios.js";

const usage = "usage: tsx scripts/chaos.ts [--scenario kill|slow|flaky|outage|bus|all] [--short] [--rate 20] [--out <dir>]";
const root = path.resolve(import.meta.dirname, "..");
let values;
try {
  ({ values } = parseArgs({
    options: {
      scenario: { type: "string", default: "all" },
      short: { type: "boolean", default: false },
      rate: { type: "string", default: "20" },
      out: { type: "string" },
    },
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`);
}
const chosen = values.scenario === "all" ? scenarios : scenarios.filter((s) => s.name === values.scenario);
if (chosen.length === 0) {
  fail(`unknown scenario ${values.scenario}: one of ${scenarios.map((s) => s.name).join(", ")} or all\n${usage}`);
}
const rate = Number(values.rate);
if (!(rate > 0)) {
  fail(`--rate must be above 0, got ${values.rate}`);
}
const out = path.resolve(root, values.out ?? path.join("test-output", `chaos-${new Date().toISOString().replace(/[:.]/g, "-")}`));

const results: ScenarioResult[] = [];
for (const scenario of chosen) {
  console.log(`\n== ${scenario.name}: ${scenario.description}`);
  const result = await runScenario(scenario, {
    loadS: values.short ? 20 : 60,
    rate,
    settleS: 60,
    out: path.join(out, scenario.name),
  });
  results.push(result);
  for (const v of result.verdicts) {
    console.log(`${v.held ? "HELD  " : "BROKEN"}  ${v.name} [${v.basis}]\n        ${v.detail}`);
  }
}
console.log("\nscenario  verdict");
for (const r of results) {
  console.log(`${r.scenario.padEnd(8)}  ${r.held ? "held" : `BROKEN: ${r.verdicts.filter((v) => !v.held).map((v) => v.name).join("; ")}`}`);
}
console.log(`reports: ${out}/<scenario>/{verdict.json,report.html}`);
process.exit(results.every((r) => r.held) ? 0 : 1);

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
