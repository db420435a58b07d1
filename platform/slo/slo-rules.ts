import { stringify } from "yaml";
import type { ServiceManifest, Slo } from "../catalogue/index.js";
import { burnRateAlerts, periodSeconds, promDuration, ratioWindows, windowName } from "./burn-rate-windows.js";

export interface SloRulesOptions {
  /**
   * Divides every window (not the names of the recorded series), so a test
   * sees an hour's burn in a minute. Default: 1. Must leave the shortest
   * window at least a few scrape intervals long.
   */
  readonly scale?: number;
  /** Prefix of the mesh's series. Default: "meshwork_", as createMeshMetrics. */
  readonly metricsPrefix?: string;
}

/**
 * Codes that are the server's failure, for availability: those the gateway
 * answers with a 5xx (gateway/http/http-status.ts). Client mistakes
 * (invalid_argument, not_found, failed_precondition, ...) and
 * resource_exhausted (429: the caller is over its limit) are the service
 * working as specified.
 */
export const serverErrorCodes: readonly string[] = ["unknown", "internal", "unimplemented", "unavailable", "deadline_exceeded", "data_loss"];

/** The labels every recorded series and alert of one SLO carries. */
export function sloLabels(service: ServiceManifest, slo: Slo): Record<string, string> {
  return { slo_service: service.name, slo: slo.name, owner: service.owner, tier: String(service.tier) };
}

/** Recorded series names: the error ratio over each window, the objective, the budget left over the period. */
export const recordNames = {
  errorRatio: (windowSeconds: number): string => `slo:sli_error:ratio_rate${windowName(windowSeconds)}`,
  objective: "slo:objective:ratio",
  budgetRemaining: "slo:error_budget_remaining:ratio",
} as const;

/** Alert names: one page and one ticket alert per SLO, told apart by their labels. */
export const alertNames = { page: "SLOErrorBudgetBurnFast", ticket: "SLOErrorBudgetBurnSlow" } as const;

/**
 * Prometheus rules for every SLO of the catalogue, as the YAML of a rules
 * file: per SLO, a group with its error ratio over every window the alerts
 * and the period need, its objective and budget left, and the workbook's
 * page and ticket alerts (burnRateAlerts). In the spirit of Sloth's output,
 * from the service manifests.
 */
export function sloRulesYaml(services: readonly ServiceManifest[], options: SloRulesOptions = {}): string {
  const scale = options.scale ?? 1;
  if (!(scale >= 1)) throw new Error("scale must be at least 1");
  const prefix = options.metricsPrefix ?? "meshwork_";
  const groups = services.flatMap((service) =>
    service.slos.map((slo) => {
      const labels = sloLabels(service, slo);
      const selector = `slo_service="${service.name}",slo="${slo.name}"`;
      const budget = round(1 - slo.objective / 100);
      const rules: Record<string, unknown>[] = ratioWindows.map((w) => ({
        record: recordNames.errorRatio(w),
        expr: errorRatio(slo, prefix, promDuration(w, scale)),
        labels,
      }));
      rules.push({ record: recordNames.objective, expr: `vector(${round(slo.objective / 100)})`, labels });
      rules.push({
        record: recordNames.budgetRemaining,
        expr: `1 - ${recordNames.errorRatio(periodSeconds)}{${selector}} / ${budget}`,
        labels,
      });
      for (const severity of ["page", "ticket"] as const) {
        const conditions = burnRateAlerts
          .filter((a) => a.severity === severity)
          .map((a) => {
            const threshold = `${a.factor} * ${budget}`;
            return (
              `(${recordNames.errorRatio(a.longSeconds)}{${selector}} > (${threshold})` +
              ` and ${recordNames.errorRatio(a.shortSeconds)}{${selector}} > (${threshold}))`
            );
          });
        rules.push({
          alert: alertNames[severity],
          expr: conditions.join("\nor\n"),
          labels: { ...labels, severity },
          annotations: {
            summary: `${service.name} ${slo.name}: error budget burning ${severity === "page" ? "fast" : "slowly"}`,
            description: `${slo.description} Objective ${slo.objective}% over 30 days; owner: ${service.owner}.`,
          },
        });
      }
      return { name: `slo:${service.name}:${slo.name}`, rules };
    }),
  );
  const header =
    "# Generated from the service catalogue (services/*/service.yaml, gateway/service.yaml)\n" +
    "# by `make slo-rules`; do not edit: change the manifests and regenerate.\n" +
    (scale === 1 ? "" : `# Windows divided by ${scale} (a test's scaled copy).\n`);
  return header + stringify({ groups }, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The share of events in `range` that were not good, for one SLO's indicator. */
function errorRatio(slo: Slo, prefix: string, range: string): string {
  const subject = slo.sli.subject;
  const [series, selector] =
    "method" in subject
      ? [`${prefix}server_request`, methodSelector(subject.method)]
      : [`${prefix}gateway_request`, `protocol="rest",route="${subject.route.template}",method="${subject.route.httpMethod}"`];
  const sum = (name: string, extra = ""): string => `sum(rate(${name}{${selector}${extra}}[${range}]))`;
  if (slo.sli.kind === "availability") {
    // `or vector(0)`: no error series yet is a ratio of 0, not no data.
    return `(${sum(`${series}s_total`, `,code=~"${serverErrorCodes.join("|")}"`)} or vector(0))\n/\n${sum(`${series}s_total`)}`;
  }
  // rate() extrapolates each series on its own, so on young series the bucket
  // can come out a little above the count: clamped, a ratio stays a ratio.
  return `clamp_min(1 - (\n${sum(`${series}_duration_seconds_bucket`, `,le=~"${leMatcher(slo.sli.belowSeconds)}"`)}\n/\n${sum(`${series}_duration_seconds_count`)}\n), 0)`;
}

function methodSelector(fullMethod: string): string {
  const [service = "", method = ""] = fullMethod.split("/");
  return `service="${service}",method="${method}"`;
}

/**
 * The `le` label of a bucket bound as prom-client writes it ("0.1", "1"),
 * also matching Prometheus 3's normalised form of whole numbers ("1.0").
 */
function leMatcher(bound: number): string {
  const text = String(bound).replace(".", "\\\\.");
  return Number.isInteger(bound) ? `${text}|${text}\\\\.0` : text;
}

/** Avoids 1 - 0.999 = 0.0010000000000000009 in the rules. */
function round(value: number): number {
  return Number(value.toPrecision(12));
}
