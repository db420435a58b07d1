// Who may call whom, workload to workload, as the contracts declare it: each
// method's meshwork.access.v1 callers (read by mesh/access, as serve()
// enforces them), placed on the workloads that serve the method's service.
// The catalogue checks its dependencies against this graph, and the
// Kubernetes NetworkPolicies are generated from it (deploy/kubernetes/).
import type { DescService } from "@bufbuild/protobuf";
import { accessDeclarations } from "../../mesh/access/declared-callers.js";
import { mainCalls } from "./code-facts.js";
import type { Catalogue } from "./load-catalogue.js";

/** Which event bus the processes run on: it decides who serves EventLogService. */
export type EventBusKind = "embedded" | "nats";

/** One call the contracts allow: `caller` may call `method`, which `callee` serves. */
export interface ContractCall {
  readonly caller: string;
  readonly callee: string;
  /** e.g. "meshwork.orders.v1.OrderService/PlaceOrder". */
  readonly method: string;
}

export interface ContractCallGraph {
  /** Every (caller, callee, method) the contracts allow between workloads, sorted. */
  readonly calls: readonly ContractCall[];
  /** The methods that admit operator identities, by the workloads that serve them (operators are not workloads). */
  readonly operatorMethods: readonly { readonly callee: string; readonly method: string }[];
  /**
   * What the graph leaves out because the catalogue cannot place it: a
   * contract service no workload serves by servingWorkloads' rules, a caller
   * the catalogue does not hold. Empty for a repository whose catalogue and
   * contracts agree; deriving deployment from a graph with these is refused.
   */
  readonly unplaced: readonly string[];
}

/**
 * The workloads that serve a contract service:
 * - meshwork.<name>.<version>.* is served by the catalogue's service <name>
 *   (the convention the catalogue's SLO check holds services to);
 * - meshwork.events.v1.EventLogService by the producers on the embedded bus
 *   (mains that serve eventBusServices), by nobody on NATS, whose server
 *   holds the streams;
 * - meshwork.events.v1.DeadLetterService by the mains that serve deadLetterService;
 * - meshwork.faults.v1.FaultService and meshwork.routing.v1.RoutingService
 *   by the runtime of every process.
 * Undefined for a contract service none of these places (callers of the
 * graph refuse to derive anything then, so that a new one is placed here first).
 */
export function servingWorkloads(root: string, catalogue: Catalogue, service: DescService, bus: EventBusKind): string[] | undefined {
  const entries = catalogue.services;
  const all = entries.map((e) => e.manifest.name).sort();
  const calling = (fn: string) => entries.filter((e) => mainCalls(root, e.folder, fn)).map((e) => e.manifest.name).sort();
  switch (service.typeName) {
    case "meshwork.events.v1.EventLogService":
      return bus === "embedded" ? calling("eventBusServices") : [];
    case "meshwork.events.v1.DeadLetterService":
      return calling("deadLetterService");
    case "meshwork.faults.v1.FaultService":
    case "meshwork.routing.v1.RoutingService":
      return all;
  }
  const owner = /^meshwork\.([a-z0-9_]+)\.[a-z0-9]+\.[A-Za-z0-9]+$/.exec(service.typeName)?.[1];
  return owner !== undefined && all.includes(owner) ? [owner] : undefined;
}

/** The contracts' caller graph for the processes of `catalogue` running on `bus`. */
export function contractCallGraph(
  root: string,
  catalogue: Catalogue,
  services: readonly DescService[],
  bus: EventBusKind,
): ContractCallGraph {
  const workloads = new Set(catalogue.services.map((e) => e.manifest.name));
  const calls: ContractCall[] = [];
  const operatorMethods: { callee: string; method: string }[] = [];
  const unplaced: string[] = [];
  for (const service of services) {
    const servers = servingWorkloads(root, catalogue, service, bus);
    if (servers === undefined) {
      unplaced.push(`${service.typeName}: no workload of the catalogue serves it (platform/catalogue/contract-callers.ts servingWorkloads)`);
      continue;
    }
    for (const declared of accessDeclarations([service])) {
      const unknown = declared.services.filter((name) => !workloads.has(name));
      if (unknown.length > 0) {
        unplaced.push(`${declared.method}: callers name ${unknown.join(", ")}, which the catalogue does not hold`);
      }
      for (const callee of servers) {
        for (const caller of declared.services.filter((name) => workloads.has(name))) calls.push({ caller, callee, method: declared.method });
        if (declared.operators) operatorMethods.push({ callee, method: declared.method });
      }
    }
  }
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  calls.sort((a, b) => order(a.caller, b.caller) || order(a.callee, b.callee) || order(a.method, b.method));
  operatorMethods.sort((a, b) => order(a.callee, b.callee) || order(a.method, b.method));
  return { calls, operatorMethods, unplaced };
}

/** The distinct "caller -> callee" pairs of a graph's calls, sorted. */
export function callPairs(calls: readonly ContractCall[]): string[] {
  return [...new Set(calls.map((c) => `${c.caller} -> ${c.callee}`))].sort();
}
