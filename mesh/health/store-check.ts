import type { CheckResult, ReadinessCheck } from "./readiness.js";

/**
 * What a store offers a readiness check: a cheap round trip that fails when
 * the store cannot serve. An embedded store answers at once (returns or
 * throws); a store behind a network (PostgreSQL) answers with a promise.
 */
export interface PingableStore {
  ping(): void | Promise<void>;
}

/**
 * Ready while the store answers a trivial query. A synchronous answer (SQLite:
 * a closed or broken database throws) decides the probe that asked. Readiness
 * probes are synchronous, so an asynchronous answer (PostgreSQL) decides the
 * next probe: each probe starts a ping unless one is in flight and reports
 * the last one settled, so a server that stops answering fails the probe
 * after it; the first probe pings and waits for nothing.
 */
export function storeCheck(store: PingableStore, name = "store"): ReadinessCheck {
  let last: CheckResult = { ok: true };
  let inFlight = false;
  const failed = (err: unknown): CheckResult => ({ ok: false, detail: err instanceof Error ? err.message : String(err) });
  return {
    name,
    run() {
      if (inFlight) {
        return last;
      }
      const answer = store.ping();
      if (answer === undefined) {
        return { ok: true };
      }
      inFlight = true;
      answer.then(
        () => {
          last = { ok: true };
        },
        (err: unknown) => {
          last = failed(err);
        },
      ).finally(() => {
        inFlight = false;
      });
      return last;
    },
  };
}
