/** A capped exponential backoff, shared by the relay and both buses. */
export interface BackoffOptions {
  /** The delay after the first failure. */
  readonly initialMs: number;
  /** The longest delay, reached by doubling. */
  readonly maxMs: number;
}

/**
 * The delay before try number `failures + 1`: initialMs doubled per earlier
 * failure, capped at maxMs, with up to 20% random jitter so that many
 * consumers that failed together do not retry in lockstep.
 */
export function backoffDelay({ initialMs, maxMs }: BackoffOptions, failures: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  // eslint-disable-next-line @microsoft/sdl/no-insecure-random -- jitter for retry timing, not a secret
  return Math.round(base * (0.8 + Math.random() * 0.2));
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
