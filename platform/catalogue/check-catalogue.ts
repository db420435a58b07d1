import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { latencyBuckets } from "../../mesh/metrics/mesh-metrics.js";
import { configTargets, foreignDatabaseUses, mainDefaultPort, mainTargets, migrationTables } from "./code-facts.js";
import { contractCallGraph } from "./contract-callers.js";
import { httpRoutesOf } from "./contract-services.js";
import { manifestFileName, type Catalogue } from "./load-catalogue.js";

/**
 * Checks every catalogue entry against the code and the contracts, and
 * returns what disagrees (empty when all agree), each naming the file:
 * - declared dependencies equal the targets its main builds (the gateway's:
 *   the upstreams of its config file, gateway/gateway.yaml);
 * - declared dependencies are calls the contracts allow (each a method of the
 *   dependency whose meshwork.access.v1 callers name the service), and every
 *   service another's contract names as a caller depends on it (the
 *   contract-callers.ts graph on the embedded bus, where a consumer calls its
 *   producers' EventLogService; that mesh-wide service's callers are not per
 *   producer, so only the owned services' callers count in this direction);
 * - its port is its main's default port;
 * - declared data equals the tables its migrations create;
 * - it opens no other service's database and reaches into no other service's folder;
 * - each SLO's method is one the contracts declare in the service's own
 *   package (meshwork.<name>.<version>), each gateway route one of the
 *   contracts' HTTP rules, and each latency threshold a bucket bound.
 */
export async function checkCatalogue(root: string, catalogue: Catalogue, services: readonly DescService[]): Promise<string[]> {
  const problems: string[] = [];
  const names = catalogue.services.map((s) => s.manifest.name);
  const methods = new Map<string, DescMethod>(services.flatMap((s) => s.methods.map((m) => [`${s.typeName}/${m.name}`, m] as const)));
  const routes = new Set([...methods.values()].flatMap(httpRoutesOf));
  const graph = contractCallGraph(root, catalogue, services, "embedded");
  for (const { manifest, folder } of catalogue.services) {
    const file = `${folder}/${manifestFileName}`;
    const targets = [...new Set([...mainTargets(root, folder), ...configTargets(root, folder)])].sort();
    if (!sameSet(manifest.dependencies, targets)) {
      problems.push(`${file}: dependencies [${[...manifest.dependencies].sort().join(", ")}] but ${folder}/main.ts builds targets [${targets.join(", ")}]`);
    }
    const mine = graph.calls.filter((c) => c.caller === manifest.name);
    for (const dependency of [...manifest.dependencies].sort()) {
      if (!mine.some((c) => c.callee === dependency)) {
        problems.push(`${file}: depends on ${dependency}, but no method ${dependency} serves names ${manifest.name} among its callers (meshwork.access.v1)`);
      }
    }
    const owned = mine.filter((c) => c.method.startsWith(`meshwork.${c.callee}.`) && !manifest.dependencies.includes(c.callee));
    for (const callee of [...new Set(owned.map((c) => c.callee))]) {
      const named = owned.filter((c) => c.callee === callee).map((c) => c.method);
      problems.push(`${file}: the contracts let ${manifest.name} call ${callee} (${named.join(", ")}) but it does not depend on ${callee}`);
    }
    const defaultPort = mainDefaultPort(root, folder);
    if (defaultPort !== manifest.port) {
      problems.push(`${file}: port ${manifest.port} but ${folder}/main.ts listens on ${defaultPort ?? "no default port"} when PORT is unset`);
    }
    const tables = await migrationTables(root, folder);
    if (!sameSet(manifest.data, tables)) {
      problems.push(`${file}: data [${[...manifest.data].sort().join(", ")}] but its migrations create [${tables.join(", ")}]`);
    }
    problems.push(...foreignDatabaseUses(root, folder, manifest.name, names.filter((n) => n !== manifest.name)));
    for (const slo of manifest.slos) {
      const at = `${file}: slo ${slo.name}`;
      const subject = slo.sli.subject;
      if ("method" in subject) {
        const [service = ""] = subject.method.split("/");
        if (!methods.has(subject.method)) {
          problems.push(`${at}: no method ${subject.method} in the contracts`);
        } else if (!service.startsWith(`meshwork.${manifest.name}.`)) {
          problems.push(`${at}: ${subject.method} is not in ${manifest.name}'s own package meshwork.${manifest.name}.*`);
        }
      } else {
        const route = `${subject.route.httpMethod} ${subject.route.template}`;
        if (manifest.name !== "gateway") {
          problems.push(`${at}: only the gateway has routes; a service's SLO names a method`);
        } else if (!routes.has(route)) {
          problems.push(`${at}: no HTTP rule "${route}" in the contracts`);
        }
      }
      if (slo.sli.kind === "latency" && !latencyBuckets.includes(slo.sli.belowSeconds)) {
        problems.push(`${at}: below_seconds ${slo.sli.belowSeconds} is not a latency bucket bound (${latencyBuckets.join(", ")})`);
      }
    }
  }
  return problems;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
