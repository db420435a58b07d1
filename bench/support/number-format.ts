/** A number for the benchmark tables: en-US grouping, exactly `digits` decimals. */
export function fmt(value: number, digits: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
