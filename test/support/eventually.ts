import { setTimeout as sleep } from "node:timers/promises";

export interface EventuallyOptions {
  /** How long to keep trying before failing: a bound on waiting, never a timing assertion. Default: 30 s. */
  readonly timeoutMs?: number;
  /** Pause between reads. Default: 50 ms. */
  readonly intervalMs?: number;
}

/**
 * The one way tests wait for something to become true. Reads until
 * `done(value)` holds and returns that value; a read that throws counts as not
 * done yet. After `timeoutMs` it fails with an Error naming `what` and the last
 * value (or error) read, so a test that waits in vain says what it saw.
 * `done` defaults to "defined and not false".
 */
export function eventually<T>(what: string, read: () => T | undefined | Promise<T | undefined>): Promise<T>;
export function eventually<T>(what: string, read: () => T | Promise<T>, done: (value: T) => boolean, options?: EventuallyOptions): Promise<T>;
export async function eventually<T>(
  what: string,
  read: () => T | Promise<T>,
  done: (value: T) => boolean = (value) => value !== undefined && value !== false,
  { timeoutMs = 30_000, intervalMs = 50 }: EventuallyOptions = {},
): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const value = await read();
      if (done(value)) {
        return value;
      }
      last = `last read ${describe(value)}`;
    } catch (err) {
      last = `last read threw ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() > giveUp) {
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}; ${last}`);
    }
    await sleep(intervalMs);
  }
}

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 500 ? `${text.slice(0, 500)}...` : text;
  } catch {
    return String(value);
  }
}
