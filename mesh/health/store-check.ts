import type { ReadinessCheck } from "./readiness.js";

/** What a store offers a readiness check: a cheap round trip that throws when it cannot serve. */
export interface PingableStore {
  ping(): void;
}

/** Ready while the store answers a trivial query (a closed or broken database throws). */
export function storeCheck(store: PingableStore, name = "store"): ReadinessCheck {
  return {
    name,
    run() {
      store.ping();
      return { ok: true };
    },
  };
}
