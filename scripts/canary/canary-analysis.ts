import type { Sample } from "../../gateway/mesh-page/prometheus-text.js";
import { counterIncrease, histogramQuantile } from "../../gateway/mesh-page/window-maths.js";
import type { Slo } from "../../platform/catalogue/index.js";
import { fastBurnFactor, serverErrorCodes } from "../../platform/slo/index.js";

/**
 * Codes that count against a version: the server failed, not the caller
 * (the same set that counts against a circuit breaker). A declined card or an
 * invalid request is the version working.
 */
export const failureCodes: ReadonlySet<string> = new Set(["unavailable", "deadline_exceeded", "internal", "unknown", "resource_exhausted", "data_loss"]);

/** What one version did in a window, from its callers' routed_* series. */
export interface VersionWindow {
  readonly calls: number;
  readonly failures: number;
  /** undefined without calls. */
  readonly p99Ms: number | undefined;
}

/** The routed_* series of one target as read from every caller's /metrics at one moment, summed over callers. */
export interface RoutedReading {
  /** `${version}\u0000${service}/${method}\u0000${code}` -> count. */
  readonly requests: ReadonlyMap<string, number>;
  /** `${version}\u0000${service}/${method}\u0000${le}` -> cumulative count. */
  readonly buckets: ReadonlyMap<string, number>;
}

const separator = "\u0000";

/** Sums a target's meshwork_routed_* series over the scrapes of its callers (one array of samples per caller). */
export function readRouted(scrapes: readonly (readonly Sample[])[], target: string, prefix = "meshwork_"): RoutedReading {
  const requests = new Map<string, number>();
  const buckets = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, value: number): void => {
    map.set(key, (map.get(key) ?? 0) + value);
  };
  for (const samples of scrapes) {
    for (const s of samples) {
      if (s.labels.target !== target || s.labels.version === undefined) {
        continue;
      }
      const method = `${s.labels.service ?? ""}/${s.labels.method ?? ""}`;
      if (s.name === `${prefix}routed_requests_total` && s.labels.code !== undefined) {
        add(requests, [s.labels.version, method, s.labels.code].join(separator), s.value);
      } else if (s.name === `${prefix}routed_request_duration_seconds_bucket` && s.labels.le !== undefined) {
        add(buckets, [s.labels.version, method, s.labels.le].join(separator), s.value);
      }
    }
  }
  return { requests, buckets };
}

/**
 * The increases between two readings of one map's series of `version` (of
 * one full method, or of all), keyed by their last label (code or le).
 */
function increases(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, version: string, method?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of after) {
    const [v, m, last] = key.split(separator) as [string, string, string];
    if (v === version && (method === undefined || m === method)) {
      out.set(last, (out.get(last) ?? 0) + counterIncrease(before.get(key), value));
    }
  }
  return out;
}

/** What `version` did between two readings, over all methods. */
export function versionWindow(before: RoutedReading, after: RoutedReading, version: string): VersionWindow {
  let calls = 0;
  let failures = 0;
  for (const [code, increase] of increases(before.requests, after.requests, version)) {
    calls += increase;
    if (failureCodes.has(code)) {
      failures += increase;
    }
  }
  const buckets = [...increases(before.buckets, after.buckets, version)].map(([le, count]) => ({ le: le === "+Inf" ? Infinity : Number(le), count }));
  const p99 = histogramQuantile(0.99, buckets);
  return { calls, failures, p99Ms: p99 === undefined ? undefined : p99 * 1000 };
}

/** How fast one version burnt one SLO's error budget in a window. */
export interface SloBurn {
  readonly slo: string;
  readonly kind: "availability" | "latency";
  /** Percent, as in the catalogue. */
  readonly objective: number;
  /** Calls of the SLO's method, and those that were not good (a server error; slower than the objective's bound). */
  readonly calls: number;
  readonly bad: number;
  /**
   * The bad share over the error budget (1 - objective): 1 spends exactly
   * the budget over the SLO's period; undefined without calls.
   */
  readonly burnRate: number | undefined;
}

const serverErrors: ReadonlySet<string> = new Set(serverErrorCodes);

/**
 * The burn rate of each of the target's SLOs (services/<target>/service.yaml)
 * for `version` between two readings, from its callers' routed_* series of
 * the SLO's method, with the indicator the platform's rules use
 * (platform/slo/slo-rules.ts): availability counts the server-error codes
 * (serverErrorCodes, not the analysis's failureCodes), latency the calls
 * above the objective's bucket bound (a bound of the same buckets the routed
 * histogram has, which the catalogue check enforces). Measured at the
 * caller, so a version's burn includes the hop to it. SLOs of a gateway
 * route are not a routed target's: skipped.
 */
export function sloBurns(before: RoutedReading, after: RoutedReading, version: string, slos: readonly Slo[]): SloBurn[] {
  const out: SloBurn[] = [];
  for (const slo of slos) {
    const sli = slo.sli;
    if (!("method" in sli.subject)) {
      continue;
    }
    let calls = 0;
    let bad = 0;
    if (sli.kind === "availability") {
      for (const [code, increase] of increases(before.requests, after.requests, version, sli.subject.method)) {
        calls += increase;
        if (serverErrors.has(code)) {
          bad += increase;
        }
      }
    } else {
      let good = 0;
      for (const [le, increase] of increases(before.buckets, after.buckets, version, sli.subject.method)) {
        if (le === "+Inf") {
          calls += increase;
        } else if (Number(le) === sli.belowSeconds) {
          good += increase;
        }
      }
      bad = Math.max(0, calls - good);
    }
    const budget = 1 - slo.objective / 100;
    out.push({ slo: slo.name, kind: sli.kind, objective: slo.objective, calls, bad, burnRate: calls === 0 ? undefined : bad / calls / budget });
  }
  return out;
}

/** When a canary fails its analysis. */
export interface CanaryThresholds {
  /** The canary's error rate may exceed the stable version's by at most this (0.01: one percentage point). */
  readonly maxErrorRateIncrease: number;
  /** The canary's p99 may be at most this many times the stable version's... */
  readonly maxP99Ratio: number;
  /** ...or this many milliseconds above it, whichever is larger (sub-millisecond p99s are noise). */
  readonly p99SlackMs: number;
  /** Fewer canary calls than this in a window is too little to judge by rates. */
  readonly minCalls: number;
  /**
   * Fewer calls of either version than this and p99 is not compared: with a
   * few dozen calls a window's p99 is its slowest call, which says more
   * about the machine than the release.
   */
  readonly minLatencyCalls: number;
  /**
   * The canary alone may burn an SLO's error budget at most this many times
   * the sustainable rate over a window (with at least minCalls calls of the
   * SLO's method, minLatencyCalls for a latency SLO). Default: the
   * platform's fast-burn page factor, 14.4 (platform/slo).
   */
  readonly maxSloBurnRate: number;
}

export const defaultThresholds: CanaryThresholds = {
  maxErrorRateIncrease: 0.01,
  maxP99Ratio: 1.5,
  p99SlackMs: 25,
  minCalls: 20,
  minLatencyCalls: 100,
  maxSloBurnRate: fastBurnFactor,
};

export interface Verdict {
  readonly passed: boolean;
  /** Whether there were enough canary calls to judge by rates (a failure is judged anyway). */
  readonly conclusive: boolean;
  readonly reason: string;
}

/**
 * Compares a canary's window with the stable version's. With fewer than
 * `minCalls` canary calls the rates say little: any canary failure then
 * fails it (a canary that fails one call in its first few is not promoted),
 * and no failure is an inconclusive pass the caller may wait on.
 */
export function judge(canary: VersionWindow, stable: VersionWindow, thresholds: CanaryThresholds = defaultThresholds): Verdict {
  const rate = (w: VersionWindow): number => (w.calls === 0 ? 0 : w.failures / w.calls);
  const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
  if (canary.calls < thresholds.minCalls) {
    return canary.failures > 0
      ? { passed: false, conclusive: true, reason: `canary failed ${canary.failures} of only ${canary.calls} calls` }
      : { passed: true, conclusive: false, reason: `only ${canary.calls} canary calls (fewer than ${thresholds.minCalls}), none failed` };
  }
  if (rate(canary) > rate(stable) + thresholds.maxErrorRateIncrease) {
    return {
      passed: false,
      conclusive: true,
      reason: `canary error rate ${percent(rate(canary))} (${canary.failures}/${canary.calls}) > stable ${percent(rate(stable))} + ${percent(thresholds.maxErrorRateIncrease)}`,
    };
  }
  const latencyJudged = canary.calls >= thresholds.minLatencyCalls && stable.calls >= thresholds.minLatencyCalls;
  if (latencyJudged && canary.p99Ms !== undefined && stable.p99Ms !== undefined) {
    const limit = Math.max(stable.p99Ms * thresholds.maxP99Ratio, stable.p99Ms + thresholds.p99SlackMs);
    if (canary.p99Ms > limit) {
      return {
        passed: false,
        conclusive: true,
        reason: `canary p99 ${canary.p99Ms.toFixed(1)} ms > ${limit.toFixed(1)} ms (stable ${stable.p99Ms.toFixed(1)} ms)`,
      };
    }
  }
  return {
    passed: true,
    conclusive: true,
    reason:
      `canary error rate ${percent(rate(canary))}, p99 ${canary.p99Ms?.toFixed(1) ?? "-"} ms; stable ${percent(rate(stable))}, p99 ${stable.p99Ms?.toFixed(1) ?? "-"} ms` +
      (latencyJudged ? "" : ` (p99 not compared: fewer than ${thresholds.minLatencyCalls} calls)`),
  };
}

/**
 * After a step has waited its windows and the canary still has fewer than
 * `minCalls` calls: a failure when the step's traffic should have given it
 * at least `minCalls` (its weight's share of both versions' calls) and it got
 * under a quarter of that share. Its weight is not reaching it (routing
 * broken, or too few sticky cohorts, e.g. one customer sending everything),
 * and a step the canary did not serve says nothing about it: as Flagger
 * fails a check that finds no values, the rollout stops rather than promote
 * what was never judged. Undefined when the traffic was too little to expect
 * that many (an idle mesh: the step passes inconclusively, as before).
 */
export function judgeReach(canary: VersionWindow, stable: VersionWindow, weight: number, thresholds: CanaryThresholds = defaultThresholds): Verdict | undefined {
  const total = canary.calls + stable.calls;
  const expected = (total * weight) / 100;
  if (canary.calls >= thresholds.minCalls || expected < thresholds.minCalls || canary.calls >= expected / 4) {
    return undefined;
  }
  return {
    passed: false,
    conclusive: true,
    reason: `canary got ${canary.calls} of ${total} calls where its weight of ${weight}% gives about ${Math.round(expected)}: its weight does not reach it (routing, or too few sticky cohorts)`,
  };
}

/**
 * Whether the canary burns one of its SLOs fast, whatever the stable version
 * does: a stable version failing as often passes the comparison, but the
 * budget burns all the same. As the platform's fast-burn page, but over the
 * step's window alone (a canary's life is shorter than the page's hour).
 * Undefined when none is judged to burn fast; the fastest one otherwise.
 */
export function judgeSlos(burns: readonly SloBurn[], thresholds: CanaryThresholds = defaultThresholds): Verdict | undefined {
  const fastest = judgedBurns(burns, thresholds)
    .filter((b) => b.burnRate > thresholds.maxSloBurnRate)
    .sort((a, b) => b.burnRate - a.burnRate)[0];
  if (fastest === undefined) {
    return undefined;
  }
  return {
    passed: false,
    conclusive: true,
    reason:
      `fast-burning SLO ${fastest.slo}: burn rate ${fastest.burnRate.toFixed(1)} over the window (limit ${thresholds.maxSloBurnRate}); ` +
      `${fastest.bad} of ${fastest.calls} canary calls ${fastest.kind === "availability" ? "server errors" : "too slow"}, objective ${fastest.objective}%`,
  };
}

/**
 * A step's verdict: the comparison with the stable version (judge), then,
 * if that passes with enough calls, the canary's own SLO burn (judgeSlos).
 * A pass names the fastest SLO burn it saw.
 */
export function judgeStep(canary: VersionWindow, stable: VersionWindow, burns: readonly SloBurn[], thresholds: CanaryThresholds = defaultThresholds): Verdict {
  const verdict = judge(canary, stable, thresholds);
  if (!verdict.passed || !verdict.conclusive) {
    return verdict;
  }
  const breach = judgeSlos(burns, thresholds);
  if (breach !== undefined) {
    return breach;
  }
  const fastest = judgedBurns(burns, thresholds).sort((a, b) => b.burnRate - a.burnRate)[0];
  return fastest === undefined
    ? verdict
    : { ...verdict, reason: `${verdict.reason}; fastest SLO burn ${fastest.burnRate.toFixed(1)} (${fastest.slo}, limit ${thresholds.maxSloBurnRate})` };
}

/** The burns with calls enough to judge: minCalls for availability, minLatencyCalls for latency (a few slow calls say more about the machine). */
function judgedBurns(burns: readonly SloBurn[], thresholds: CanaryThresholds): (SloBurn & { readonly burnRate: number })[] {
  return burns.filter(
    (b): b is SloBurn & { readonly burnRate: number } =>
      b.burnRate !== undefined && b.calls >= (b.kind === "latency" ? thresholds.minLatencyCalls : thresholds.minCalls),
  );
}
