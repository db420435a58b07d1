// make fuzz: the fuzzing suite (test/fuzz/) with more requests than CI's
// 20,000 and, unless FUZZ_SEED (or SEED=) names one, a fresh seed, printed
// first so that a failure can be replayed. Arguments: --runs N, --seed S.
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import path from "node:path";
import { parseArgs } from "node:util";
import { fuzzOptions } from "./fuzz/options.js";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { runs: { type: "string" }, seed: { type: "string" } } });
const env = { ...process.env };
if (values.runs !== undefined && values.runs !== "") env.FUZZ_RUNS = values.runs;
if (values.seed !== undefined && values.seed !== "") env.FUZZ_SEED = values.seed;
env.FUZZ_SEED ??= String(randomInt(0, 2 ** 31));
const { runs, seed } = fuzzOptions(env);
console.log(`make fuzz: FUZZ_RUNS=${runs} FUZZ_SEED=${seed}`);
const mocha = spawnSync(
  path.join(root, "node_modules/.bin/mocha"),
  ["--no-config", "--import=tsx", "--exit", "--timeout", "0", "test/fuzz/fuzz.test.ts"],
  { cwd: root, env, stdio: "inherit" },
);
process.exit(mocha.status ?? 1);
