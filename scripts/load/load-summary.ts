import type { LatencyRecorder, LoadSecond } from "./latency-recorder.js";
import type { OpenLoopResult } from "./open-loop.js";

/** What a load run measured, as the table, the report and results.json give it. */
export interface LoadSummary {
  readonly target: string;
  readonly stages: string;
  readonly durationS: number;
  /** Requests per second the schedule offered, on average. */
  readonly offeredRate: number;
  /** Responses per second that came back, over the schedule or until the last response, whichever is longer. */
  readonly achievedRate: number;
  readonly requests: number;
  readonly errors: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly p999: number; readonly max: number };
  /** Outcomes by code ("ok" included), most frequent first. */
  readonly codes: readonly { readonly code: string; readonly count: number }[];
  readonly seconds: readonly LoadSecond[];
  readonly distribution: readonly { readonly fromMs: number; readonly toMs: number; readonly count: number }[];
}

export function summarize(target: string, stages: string, result: OpenLoopResult): LoadSummary {
  const r: LatencyRecorder = result.recorder;
  const durationS = result.durationMs / 1000;
  return {
    target,
    stages,
    durationS,
    offeredRate: result.offered / durationS,
    achievedRate: r.count / (Math.max(result.durationMs, result.elapsedMs) / 1000),
    requests: r.count,
    errors: r.errors,
    latencyMs: { p50: r.percentileMs(50), p90: r.percentileMs(90), p99: r.percentileMs(99), p999: r.percentileMs(99.9), max: r.maxMs },
    codes: [...r.codes].map(([code, count]) => ({ code, count })).sort((a, b) => b.count - a.count),
    seconds: r.seconds(),
    distribution: r.distribution(),
  };
}

/** The end-of-run table: rate offered and achieved, latency percentiles, outcomes by code. */
export function summaryTable(s: LoadSummary): string {
  const ms = (v: number) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
  const rows: [string, string][] = [
    ["target", s.target],
    ["schedule", `${s.stages} (${s.durationS} s)`],
    ["rate offered", `${s.offeredRate.toFixed(1)}/s`],
    ["rate achieved", `${s.achievedRate.toFixed(1)}/s (${s.requests} responses)`],
    ["latency p50", `${ms(s.latencyMs.p50)} ms`],
    ["latency p90", `${ms(s.latencyMs.p90)} ms`],
    ["latency p99", `${ms(s.latencyMs.p99)} ms`],
    ["latency p99.9", `${ms(s.latencyMs.p999)} ms`],
    ["latency max", `${ms(s.latencyMs.max)} ms`],
    ["errors", `${s.errors} (${s.requests === 0 ? 0 : ((100 * s.errors) / s.requests).toFixed(2)}%)`],
    ...s.codes.map(({ code, count }): [string, string] => [`  ${code}`, String(count)]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    "latency is measured from each request's intended send time (open loop: no coordinated omission)",
    ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
  ].join("\n");
}
