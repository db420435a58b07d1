/**
 * The increase of a counter between two scrapes. A counter that went down
 * was reset (its process restarted): as Prometheus' increase() does, the
 * whole current value is then the increase.
 */
export function counterIncrease(previous: number | undefined, current: number): number {
  if (previous === undefined || current < previous) {
    return current;
  }
  return current - previous;
}

/** Per-second rate of an increase over `seconds`; 0 for an empty window. */
export function ratePerSecond(increase: number, seconds: number): number {
  return seconds > 0 ? increase / seconds : 0;
}

/** One histogram bucket: observations at or below `le` (cumulative), over some window. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/**
 * The q-quantile (0 <= q <= 1; beyond, -Inf or +Inf) of a histogram's cumulative buckets, as
 * PromQL's histogram_quantile estimates it: find the bucket holding the
 * rank q * total and interpolate linearly inside it, the lowest bucket
 * starting at 0. If the rank falls in the +Inf bucket the answer is the
 * largest finite upper bound. Undefined for an empty window (no
 * observations) or a histogram without a +Inf bucket. Buckets need not be
 * sorted; counts that decrease with `le` (scrape races) are raised to keep
 * the series monotonic, as Prometheus does.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const last = sorted.at(-1);
  if (last === undefined || last.le !== Infinity || sorted.length < 2) {
    return undefined;
  }
  let running = 0;
  const counts = sorted.map((b) => (running = Math.max(running, b.count)));
  const total = counts.at(-1) ?? 0;
  if (total <= 0 || Number.isNaN(q)) {
    return undefined;
  }
  if (q < 0 || q > 1) {
    return q < 0 ? -Infinity : Infinity;
  }
  const rank = q * total;
  const index = counts.findIndex((c) => c >= rank);
  const bucket = sorted[index];
  if (bucket === undefined) {
    return undefined;
  }
  if (bucket.le === Infinity) {
    return sorted.at(-2)?.le;
  }
  const lower = index === 0 ? 0 : (sorted[index - 1]?.le ?? 0);
  const below = index === 0 ? 0 : (counts[index - 1] ?? 0);
  const inBucket = (counts[index] ?? 0) - below;
  return inBucket === 0 ? bucket.le : lower + (bucket.le - lower) * ((rank - below) / inBucket);
}
