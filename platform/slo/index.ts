// SLOs as code: Prometheus rules from the catalogue's objectives.
export { alertNames, recordNames, serverErrorCodes, sloLabels, sloRulesYaml } from "./slo-rules.js";
export type { SloRulesOptions } from "./slo-rules.js";
export { burnRateAlerts, fastBurnFactor, periodSeconds, promDuration, ratioWindows, windowName } from "./burn-rate-windows.js";
export type { BurnRateAlert } from "./burn-rate-windows.js";

/** Where `make slo-rules` writes the rules, relative to the repository root. */
export const sloRulesFile = "prometheus/slo-rules.yml";
