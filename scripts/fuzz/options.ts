/**
 * How many requests the fuzzing suite (test/fuzz/) generates and from which
 * seed: FUZZ_RUNS (default 20,000, what CI runs) and FUZZ_SEED (default a
 * fixed one, so CI sends the same requests every run; `make fuzz` picks a
 * fresh one and prints it). A failure prints its seed and path: run again
 * with that FUZZ_SEED to replay it, then add it to test/fuzz/regressions.ts.
 */
export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
}

export const defaultFuzzRuns = 20_000;
export const defaultFuzzSeed = 20_261_206;

export function fuzzOptions(env: NodeJS.ProcessEnv): FuzzOptions {
  const runs = env.FUZZ_RUNS === undefined || env.FUZZ_RUNS === "" ? defaultFuzzRuns : Number(env.FUZZ_RUNS);
  const seed = env.FUZZ_SEED === undefined || env.FUZZ_SEED === "" ? defaultFuzzSeed : Number(env.FUZZ_SEED);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`FUZZ_RUNS must be a positive integer, got ${JSON.stringify(env.FUZZ_RUNS)}`);
  }
  if (!Number.isInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 31) {
    throw new Error(`FUZZ_SEED must be a 32-bit integer, got ${JSON.stringify(env.FUZZ_SEED)}`);
  }
  return { runs, seed };
}
