import type { ServiceManifest, Slo } from "../../platform/catalogue/index.js";
import { serverErrorCodes } from "../../platform/slo/index.js";
import type { SloStatus } from "./mesh-snapshot.js";
import { shortMethod, type ProcessReading } from "./mesh-series.js";

/** "meshwork.orders.v1.OrderService/PlaceOrder", or the route "POST /v1/orders". */
export function sloSubject(slo: Slo): string {
  const s = slo.sli.subject;
  return "method" in s ? s.method : `${s.route.httpMethod} ${s.route.template}`;
}

/**
 * Every SLO of the catalogue, measured from the processes' own counters since
 * they started (the latest scrape of each of the service's endpoints,
 * summed), with the same definitions as the generated Prometheus rules:
 * availability counts calls that ended in a server error, latency calls over
 * the threshold. The fallback when no Prometheus is configured: a process
 * restart starts its counts again, where Prometheus keeps the 30 days.
 */
export function slosFromCounters(catalogue: readonly ServiceManifest[], readings: ReadonlyMap<string, readonly ProcessReading[]>): SloStatus[] {
  return catalogue.flatMap((service) =>
    service.slos.map((slo) => {
      let total = 0;
      let bad = 0;
      const subject = slo.sli.subject;
      const key = "method" in subject ? `server\u0000\u0000${shortMethod(subject.method)}` : `route\u0000\u0000${subject.route.httpMethod} ${subject.route.template}`;
      for (const reading of readings.get(service.name) ?? []) {
        const m = reading.methods.get(key);
        if (m === undefined) continue;
        if (slo.sli.kind === "availability") {
          for (const [code, n] of m.calls) {
            total += n;
            if (serverErrorCodes.includes(code)) bad += n;
          }
        } else {
          const count = m.buckets.get(Infinity) ?? 0;
          total += count;
          bad += count - (m.buckets.get(slo.sli.belowSeconds) ?? 0);
        }
      }
      const errorRatio = total > 0 ? bad / total : null;
      return status(service, slo, errorRatio, "counters");
    }),
  );
}

/** An SLO's row from its error ratio over the period (null: no calls) and where the ratio came from. */
export function status(service: ServiceManifest, slo: Slo, errorRatio: number | null, source: SloStatus["source"]): SloStatus {
  const budget = 1 - slo.objective / 100;
  return {
    service: service.name,
    owner: service.owner,
    slo: slo.name,
    description: slo.description,
    kind: slo.sli.kind,
    subject: sloSubject(slo),
    objective: slo.objective,
    attainment: errorRatio === null ? null : 1 - errorRatio,
    budgetRemaining: errorRatio === null ? null : 1 - errorRatio / budget,
    source,
  };
}
