// A benchmark's way out: on SIGINT (and SIGTERM, when asked) or past its time
// limit it kills what it started and exits at once.

export interface RunLimitOptions {
  /** Kills the children (by PID) and removes temporary files; synchronous. */
  readonly cleanup: () => void;
  /** The limit printed in the message; the timer fires after `limitMs + graceMs`. */
  readonly limitMs: number;
  readonly graceMs?: number;
  /** Also handle SIGTERM (exit 143). */
  readonly sigterm?: boolean;
}

/** Arms the handlers; the returned function clears the time limit (call it in `finally`). */
export function limitRun({ cleanup, limitMs, graceMs = 0, sigterm = false }: RunLimitOptions): () => void {
  process.once("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  if (sigterm) {
    process.once("SIGTERM", () => {
      cleanup();
      process.exit(143);
    });
  }
  const timer = setTimeout(() => {
    console.error(`bench exceeded ${limitMs / 1000} s; stopping`);
    cleanup();
    process.exit(1);
  }, limitMs + graceMs);
  return () => clearTimeout(timer);
}
