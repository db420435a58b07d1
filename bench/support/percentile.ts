/** The `q` quantile (0 to 1) of an ascending array: the value at rank floor(q·n), the last at most. */
export function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
