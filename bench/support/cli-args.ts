// Command-line checks for the benchmarks: a bad argument ends the run with exit code 2.

/** The integer flag `--name`, from 1 to `max`; anything else ends the run. */
export function positive(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    fail(`--${name} takes an integer from 1 to ${max}`);
  }
  return n;
}

/** Prints `message` and exits with code 2 at once (no cleanup runs). */
export function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
