import { MethodOptions_IdempotencyLevel as IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import type { Verdict } from "./invariants.js";

/** InventoryService's methods a retry may repeat, by the contract's idempotency_level. */
const idempotent = new Set(
  InventoryService.methods
    .filter((m) => m.idempotency === IdempotencyLevel.NO_SIDE_EFFECTS || m.idempotency === IdempotencyLevel.IDEMPOTENT)
    .map((m) => m.name),
);

/** Sums a counter's samples in Prometheus text whose labels pass `keep`. */
function sum(text: string, name: string, keep: (labels: Record<string, string>) => boolean): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) {
      continue;
    }
    const labels = Object.fromEntries([...line.slice(line.indexOf("{") + 1, line.lastIndexOf("}")).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (keep(labels)) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

/** The success objective of idempotent calls under `flaky` (the 99.9%). */
const successObjective = 0.999;
/** A run is judged to fall short of the success objective only when its failures would be rarer than this for a mesh exactly at it. */
const significance = 0.001;

/**
 * Under `flaky` (a share `faultShare` of every inventory call fails
 * Unavailable), from the processes' own counters (read once, at the end of a
 * run with no restart):
 * - success of the idempotent methods, as their callers (the gateway and
 *   orders) saw them: ok / logical calls, at least 99.9%. Each attempt fails
 *   on its own with the fault's share, so the failures of a mesh that meets
 *   the objective exactly are binomial with p = 0.1%; a short run of a few
 *   hundred calls meets it with no failure about three times in four and with
 *   one (99.7%) about once in four. So the verdict breaks when the failures
 *   are more than such a mesh would show, with probability below 0.1%: four
 *   or more in 300 calls; thirty (no retry at all) breaks it at once;
 * - retry amplification, calls sent (what inventory received) / calls made
 *   (what its callers asked for). Any retry policy pays at least
 *   1 / (1 - faultShare) to mask independent failures (1.11 at 10%), so the
 *   issue's bound of 1.1 reads as 10% above that floor: no retry storm.
 */
export function retryVerdicts(metrics: { gateway: string; orders: string; inventory: string }, faultShare: number): Verdict[] {
  const made = (text: string, ok: boolean) =>
    sum(
      text,
      "meshwork_client_requests_total",
      (l) => l.target === "inventory" && l.service === InventoryService.typeName && idempotent.has(l.method ?? "") && (!ok || l.code === "ok"),
    );
  const calls = made(metrics.gateway, false) + made(metrics.orders, false);
  const ok = made(metrics.gateway, true) + made(metrics.orders, true);
  const sent = sum(metrics.inventory, "meshwork_server_requests_total", (l) => l.service === InventoryService.typeName && idempotent.has(l.method ?? ""));
  const injected = sum(metrics.inventory, "meshwork_faults_injected_total", (l) => l.fault === "abort");
  const success = calls === 0 ? 0 : ok / calls;
  const chance = calls === 0 ? 0 : binomialTail(calls, calls - ok, 1 - successObjective);
  const amplification = calls === 0 ? Infinity : sent / calls;
  const floor = 1 / (1 - faultShare);
  const bound = 1.1 * floor;
  return [
    {
      name: `idempotent inventory calls succeed >= ${100 * successObjective}% under the faults (broken when the failures are more than that allows, p < ${significance})`,
      basis: "counters",
      held: calls > 0 && (success >= successObjective || chance >= significance),
      detail: `${ok} of ${calls} ok (${(100 * success).toFixed(3)}%; ${calls - ok} or more failures at ${100 * successObjective}%: p = ${chance.toPrecision(2)}); ${injected} aborts injected at inventory`,
    },
    {
      name: `retry amplification (calls sent / calls made) <= 1.1 x the ${(100 * faultShare).toFixed(0)}% fault floor (${bound.toFixed(3)})`,
      basis: "counters",
      held: amplification <= bound,
      detail: `${sent} sent / ${calls} made = ${amplification.toFixed(3)} (floor ${floor.toFixed(3)})`,
    },
  ];
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space. */
export function binomialTail(n: number, k: number, p: number): number {
  if (k <= 0) {
    return 1;
  }
  let below = 0;
  let logTerm = n * Math.log1p(-p); // i = 0
  for (let i = 0; i < k; i++) {
    below += Math.exp(logTerm);
    logTerm += Math.log(n - i) - Math.log(i + 1) + Math.log(p) - Math.log1p(-p);
  }
  return Math.max(0, 1 - below);
}
