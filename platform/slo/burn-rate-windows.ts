/**
 * The SRE workbook's multi-window, multi-burn-rate alerts for a 30-day
 * objective ("Alerting on SLOs", table 5-8): each alert fires when the error
 * budget burns at `factor` times the sustainable rate over both the long
 * window and its short window (a twelfth of it), so it fires fast and stops
 * soon after the burn stops.
 */
export interface BurnRateAlert {
  readonly severity: "page" | "ticket";
  readonly factor: number;
  /** Window lengths in seconds, unscaled. */
  readonly longSeconds: number;
  readonly shortSeconds: number;
}

const minute = 60;
const hour = 60 * minute;
const day = 24 * hour;

export const burnRateAlerts: readonly BurnRateAlert[] = [
  // 2% of the budget in an hour.
  { severity: "page", factor: 14.4, longSeconds: hour, shortSeconds: 5 * minute },
  // 5% of the budget in six hours.
  { severity: "page", factor: 6, longSeconds: 6 * hour, shortSeconds: 30 * minute },
  // 10% of the budget in a day.
  { severity: "ticket", factor: 3, longSeconds: day, shortSeconds: 2 * hour },
  // 10% of the budget in three days.
  { severity: "ticket", factor: 1, longSeconds: 3 * day, shortSeconds: 6 * hour },
];

/**
 * What "burning fast" means: the highest factor that pages (14.4, 2% of the
 * budget in an hour). The canary analysis (scripts/canary) rolls a version
 * back when it alone burns an SLO's budget faster than this.
 */
export const fastBurnFactor: number = Math.max(...burnRateAlerts.filter((a) => a.severity === "page").map((a) => a.factor));

/** The objective's period: the error budget and the attainment are over it. */
export const periodSeconds = 30 * day;

/** Every window an error ratio is recorded over: the alerts' windows and the period. */
export const ratioWindows: readonly number[] = [
  ...new Set([...burnRateAlerts.flatMap((a) => [a.shortSeconds, a.longSeconds]), periodSeconds]),
].sort((a, b) => a - b);

/** A window's name in recorded series, always unscaled: 300 -> "5m", 86400 -> "1d". */
export function windowName(seconds: number): string {
  if (seconds % day === 0) return `${seconds / day}d`;
  if (seconds % hour === 0) return `${seconds / hour}h`;
  if (seconds % minute === 0) return `${seconds / minute}m`;
  return `${seconds}s`;
}

/**
 * A PromQL range for a window divided by `scale` (1: the real windows; a test
 * shrinks an hour to a minute with 60): "5m", or "5s", "500ms" when scaled.
 */
export function promDuration(seconds: number, scale: number): string {
  if (scale === 1) return windowName(seconds);
  const ms = Math.round((seconds * 1000) / scale);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
