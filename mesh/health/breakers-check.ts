import type { BreakerSnapshot } from "../resilience/circuit-breaker.js";
import type { ReadinessCheck } from "./readiness.js";

/** Where a breakers check reads states: a ClientFactory. */
export interface BreakerStates {
  breakerStates(target: string): BreakerSnapshot[];
}

/**
 * Ready unless the required target looks down: every one of its breakers that
 * says something about it now is open. Breakers are per method and made on a
 * method's first call, so a closed breaker with no call in its rolling window
 * says nothing about the target now and is left out; a target with no such
 * breaker (none called yet, or all quiet) counts as up.
 *
 * Half-open does not count as open: it means the breaker will let the next
 * call through to test the target. Were it to count, a process taken out of
 * the load balancer for an open breaker would get no traffic to close it
 * with, and would stay unready after the target came back. So while the target
 * stays down, readiness alternates with the breaker: unready for the reset
 * timeout, ready until the probe call fails.
 */
export function breakersCheck(clients: BreakerStates, target: string): ReadinessCheck {
  return {
    name: `breakers:${target}`,
    run() {
      const telling = clients.breakerStates(target).filter((b) => b.state !== "closed" || b.recentCalls > 0);
      const open = telling.filter((b) => b.state === "open");
      if (telling.length > 0 && open.length === telling.length) {
        return { ok: false, detail: `every breaker of ${target} in use is open: ${open.map((b) => b.method).join(", ")}` };
      }
      return open.length === 0 ? { ok: true } : { ok: true, detail: `open: ${open.map((b) => b.method).join(", ")}` };
    },
  };
}
