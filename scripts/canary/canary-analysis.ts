import type { Sample } from "../../gateway/mesh-page/prometheus-text.js";
import { counterIncrease, histogramQuantile, type Bucket } from "../../gateway/mesh-page/window-maths.js";

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

/** The routed_* series of one target as read from every caller's /metrics at one moment, summed over callers and methods. */
export interface RoutedReading {
  /** `${version}\u0000${code}` -> count. */
  readonly requests: ReadonlyMap<string, number>;
  /** `${version}\u0000${le}` -> cumulative count. */
  readonly buckets: ReadonlyMap<string, number>;
}

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
      if (s.name === `${prefix}routed_requests_total` && s.labels.code !== undefined) {
        add(requests, `${s.labels.version}\u0000${s.labels.code}`, s.value);
      } else if (s.name === `${prefix}routed_request_duration_seconds_bucket` && s.labels.le !== undefined) {
        add(buckets, `${s.labels.version}\u0000${s.labels.le}`, s.value);
      }
    }
  }
  return { requests, buckets };
}

/** What `version` did between two readings. */
export function versionWindow(before: RoutedReading, after: RoutedReading, version: string): VersionWindow {
  let calls = 0;
  let failures = 0;
  for (const [key, value] of after.requests) {
    const [v, code] = key.split("\u0000") as [string, string];
    if (v !== version) {
      continue;
    }
    const increase = counterIncrease(before.requests.get(key), value);
    calls += increase;
    if (failureCodes.has(code)) {
      failures += increase;
    }
  }
  const buckets: Bucket[] = [];
  for (const [key, value] of after.buckets) {
    const [v, le] = key.split("\u0000") as [string, string];
    if (v === version) {
      buckets.push({ le: le === "+Inf" ? Infinity : Number(le), count: counterIncrease(before.buckets.get(key), value) });
    }
  }
  const p99 = histogramQuantile(0.99, buckets);
  return { calls, failures, p99Ms: p99 === undefined ? undefined : p99 * 1000 };
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
}

export const defaultThresholds: CanaryThresholds = { maxErrorRateIncrease: 0.01, maxP99Ratio: 1.5, p99SlackMs: 25, minCalls: 20, minLatencyCalls: 100 };

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
