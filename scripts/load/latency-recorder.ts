import { build, type Histogram } from "hdr-histogram-js";

/** Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant digits. */
function histogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

/** One second of the run, for the latency-over-time plot. */
export interface LoadSecond {
  /** Seconds from the start (by intended send time). */
  readonly second: number;
  /** Requests due in this second (offered). */
  readonly offered: number;
  /** Responses that arrived in this second. */
  readonly completed: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Every outcome of a load run in HDR histograms: one for the whole run, one
 * per second of intended send time (so a stall shows at the seconds it hit,
 * not when its requests finally came back), and counts by code ("ok" or the
 * error's code name).
 */
export class LatencyRecorder {
  readonly all = histogram();
  readonly codes = new Map<string, number>();
  private readonly perSecond = new Map<number, { histogram: Histogram; offered: number; errors: number }>();
  private readonly completedAt = new Map<number, number>();
  private readonly buckets = new Array<number>(bucketEdgesMs.length).fill(0);

  /** A request due at `intendedMs` (from the start) was sent. */
  offered(intendedMs: number): void {
    this.second(intendedMs).offered++;
  }

  /** A request due at `intendedMs` ended at `endedMs` (both from the start) with `code`. */
  record(intendedMs: number, endedMs: number, code: string): void {
    const micros = Math.max(1, Math.round((endedMs - intendedMs) * 1000));
    this.all.recordValue(micros);
    const ms = micros / 1000;
    this.buckets[bucketEdgesMs.findIndex((edge) => ms <= edge)]!++;
    const second = this.second(intendedMs);
    second.histogram.recordValue(micros);
    if (code !== "ok") {
      second.errors++;
    }
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    const at = Math.floor(endedMs / 1000);
    this.completedAt.set(at, (this.completedAt.get(at) ?? 0) + 1);
  }

  /** Requests recorded so far. */
  get count(): number {
    return this.all.totalCount;
  }

  /** Requests that ended with a code other than "ok". */
  get errors(): number {
    let n = 0;
    for (const [code, count] of this.codes) {
      if (code !== "ok") {
        n += count;
      }
    }
    return n;
  }

  /** The latency at a percentile of the whole run, in ms. */
  percentileMs(p: number): number {
    return this.all.totalCount === 0 ? 0 : this.all.getValueAtPercentile(p) / 1000;
  }

  get maxMs(): number {
    return this.all.totalCount === 0 ? 0 : this.all.maxValue / 1000;
  }

  /** The run second by second. */
  seconds(): LoadSecond[] {
    const last = Math.max(-1, ...this.perSecond.keys(), ...this.completedAt.keys());
    return Array.from({ length: last + 1 }, (_, second) => {
      const s = this.perSecond.get(second);
      const h = s?.histogram;
      const at = (p: number) => (h === undefined || h.totalCount === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
      return {
        second,
        offered: s?.offered ?? 0,
        completed: this.completedAt.get(second) ?? 0,
        errors: s?.errors ?? 0,
        p50Ms: at(50),
        p90Ms: at(90),
        p99Ms: at(99),
        maxMs: h === undefined || h.totalCount === 0 ? 0 : h.maxValue / 1000,
      };
    });
  }

  /**
   * The latency at a percentile of the requests due in the seconds `keep`
   * accepts (e.g. outside a fault window), in ms; undefined if there were none.
   */
  percentileMsWhere(keep: (second: number) => boolean, p: number): number | undefined {
    const merged = histogram();
    for (const [second, s] of this.perSecond) {
      if (keep(second)) {
        merged.add(s.histogram);
      }
    }
    return merged.totalCount === 0 ? undefined : merged.getValueAtPercentile(p) / 1000;
  }

  /** Counts per latency bucket (log-spaced edges in ms, the last open-ended), for the histogram plot. */
  distribution(): { fromMs: number; toMs: number; count: number }[] {
    return bucketEdgesMs.map((toMs, i) => ({ fromMs: i === 0 ? 0 : bucketEdgesMs[i - 1]!, toMs, count: this.buckets[i]! }));
  }

  private second(intendedMs: number) {
    const key = Math.floor(intendedMs / 1000);
    let s = this.perSecond.get(key);
    if (s === undefined) {
      s = { histogram: histogram(), offered: 0, errors: 0 };
      this.perSecond.set(key, s);
    }
    return s;
  }
}

/** Upper edges of the distribution's buckets, in ms. */
const bucketEdgesMs = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Infinity];
