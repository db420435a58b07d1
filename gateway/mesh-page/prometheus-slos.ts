import type { ServiceManifest } from "../../platform/catalogue/index.js";
import { alertNames, periodSeconds, recordNames } from "../../platform/slo/index.js";
import type { FiringAlert, SloStatus } from "./mesh-snapshot.js";
import { status } from "./slo-status.js";

export interface PrometheusSlos {
  readonly slos: SloStatus[];
  readonly alerts: FiringAlert[];
}

/**
 * Reads the catalogue's SLOs from a Prometheus server that loads the
 * generated rules (prometheus/slo-rules.yml): each SLO's error ratio over the
 * period (`slo:sli_error:ratio_rate30d`) and the burn-rate alerts pending or
 * firing. Throws on an unreachable server or a failed query; the caller
 * shows why.
 */
export async function readPrometheusSlos(url: string, catalogue: readonly ServiceManifest[], signal: AbortSignal): Promise<PrometheusSlos> {
  const query = async (expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal });
    const body = (await res.json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== "success" || body.data === undefined) throw new Error(`${expr}: ${body.error ?? res.status}`);
    return body.data.result;
  };
  const [ratios, alertsResponse] = await Promise.all([
    query(recordNames.errorRatio(periodSeconds)),
    fetch(`${url}/api/v1/alerts`, { signal }).then((res) => res.json() as Promise<{ data?: { alerts?: PromAlert[] } }>),
  ]);
  const ratioOf = new Map(ratios.map((r) => [`${r.metric.slo_service}\u0000${r.metric.slo}`, Number(r.value[1])]));
  const slos = catalogue.flatMap((service) =>
    service.slos.map((slo) => {
      const ratio = ratioOf.get(`${service.name}\u0000${slo.name}`);
      return status(service, slo, ratio === undefined || Number.isNaN(ratio) ? null : ratio, "prometheus");
    }),
  );
  const names = new Set<string>(Object.values(alertNames));
  const alerts = (alertsResponse.data?.alerts ?? [])
    .filter((a) => names.has(a.labels.alertname ?? ""))
    .map((a) => ({
      name: a.labels.alertname ?? "",
      severity: a.labels.severity ?? "",
      service: a.labels.slo_service ?? "",
      slo: a.labels.slo ?? "",
      owner: a.labels.owner ?? "",
      state: a.state === "firing" ? ("firing" as const) : ("pending" as const),
      since: Date.parse(a.activeAt),
    }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.slo.localeCompare(b.slo) || a.severity.localeCompare(b.severity));
  return { slos, alerts };
}

interface PromAlert {
  readonly labels: Record<string, string | undefined>;
  readonly state: string;
  readonly activeAt: string;
}
