import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { codeLabel } from "./code-label.js";
import type { ResilienceEvents } from "../resilience/resilience-events.js";
import type { RouteTable } from "../routing/route-table.js";
import { RolloutState } from "../../gen/meshwork/routing/v1/routing_pb.js";
import { latencyBuckets } from "./mesh-metrics.js";

/**
 * Series of routing between versions (mesh/routing), for canary analysis and
 * the /mesh page: each attempt's version and outcome, the reason it went
 * there, mirrored copies, and the weights in force. `version` is a label (a
 * handful per target, from configuration); an id never is.
 *
 *   meshwork_route_decisions_total{target,service,method,version,reason}
 *   meshwork_routed_requests_total{target,service,method,version,code}
 *   meshwork_routed_request_duration_seconds{target,service,method,version}
 *   meshwork_mirrored_requests_total{target,service,method,version}
 *   meshwork_route_weight{target,method,version}   (method: the full name, or "*" for all_methods)
 *   meshwork_rollout_steps{target,canary,result}   (a canary rollout's analysed steps, passed or failed)
 *   meshwork_rollout_state{target,canary,state}    (1 for the rollout's state: progressing, promoted, rolled_back)
 *
 * Counted per attempt, below the retries: a canary that fails an attempt
 * that a retry then answers from stable is still seen failing.
 */
export function routingMetrics(registry: Registry, routes: RouteTable, prefix = "meshwork_"): { observe(events: ResilienceEvents): void } {
  const registers = [registry];
  const decisions = new Counter({
    name: `${prefix}route_decisions_total`,
    help: "Attempts routed to a version of a target, by the reason (header, sticky, weight, stable).",
    labelNames: ["target", "service", "method", "version", "reason"] as const,
    registers,
  });
  const requests = new Counter({
    name: `${prefix}routed_requests_total`,
    help: "Attempts to a target with versions, by the version that answered and the code.",
    labelNames: ["target", "service", "method", "version", "code"] as const,
    registers,
  });
  const duration = new Histogram({
    name: `${prefix}routed_request_duration_seconds`,
    help: "Time of an attempt to a target with versions, by version.",
    labelNames: ["target", "service", "method", "version"] as const,
    buckets: [...latencyBuckets],
    registers,
  });
  const mirrored = new Counter({
    name: `${prefix}mirrored_requests_total`,
    help: "Copies of read-only calls sent to a mirror version (their answers are ignored).",
    labelNames: ["target", "service", "method", "version"] as const,
    registers,
  });
  new Gauge({
    name: `${prefix}route_weight`,
    help: "The weight in percent of each version in the routing rules in force (method \"*\": the target's rule for all methods).",
    labelNames: ["target", "method", "version"] as const,
    registers,
    collect() {
      this.reset();
      for (const [target, rules] of Object.entries(routes.current.targets)) {
        const versions = routes.versionsOf(target);
        if (versions === undefined) {
          continue;
        }
        const methods = [["*", rules.allMethods] as const, ...Object.entries(rules.methods)];
        for (const [method, rule] of methods) {
          if (rule === undefined || Object.keys(rule.weights).length === 0) {
            continue;
          }
          for (const version of versions) {
            this.set({ target, method, version }, rule.weights[version] ?? 0);
          }
        }
      }
    },
  });
  // A rollout's story is in the routes file beside its weights (the canary
  // controller writes both), so every process that routes the target reports it.
  new Gauge({
    name: `${prefix}rollout_steps`,
    help: "Steps of a canary rollout analysed so far, by result (passed, failed), from the routing rules in force.",
    labelNames: ["target", "canary", "result"] as const,
    registers,
    collect() {
      this.reset();
      for (const [target, rules] of Object.entries(routes.current.targets)) {
        const rollout = rules.rollout;
        if (rollout === undefined || routes.versionsOf(target) === undefined) {
          continue;
        }
        const passed = rollout.decisions.filter((d) => d.passed).length;
        this.set({ target, canary: rollout.canary, result: "passed" }, passed);
        this.set({ target, canary: rollout.canary, result: "failed" }, rollout.decisions.length - passed);
      }
    },
  });
  new Gauge({
    name: `${prefix}rollout_state`,
    help: "1 for the state a canary rollout is in (progressing, promoted, rolled_back), from the routing rules in force.",
    labelNames: ["target", "canary", "state"] as const,
    registers,
    collect() {
      this.reset();
      for (const [target, rules] of Object.entries(routes.current.targets)) {
        const rollout = rules.rollout;
        if (rollout === undefined || routes.versionsOf(target) === undefined || rollout.state === RolloutState.UNSPECIFIED) {
          continue;
        }
        this.set({ target, canary: rollout.canary, state: RolloutState[rollout.state].toLowerCase() }, 1);
      }
    },
  });
  return {
    /** Counts the routing events of one client factory. */
    observe(events) {
      events.on("routed", (e) => decisions.inc({ target: e.target, ...split(e.method), version: e.version, reason: e.reason }));
      events.on("routedCallEnded", (e) => {
        const labels = { target: e.target, ...split(e.method), version: e.version };
        requests.inc({ ...labels, code: e.code === undefined ? "ok" : codeLabel(e.code) });
        duration.observe(labels, e.seconds);
      });
      events.on("mirrored", (e) => mirrored.inc({ target: e.target, ...split(e.method), version: e.version }));
    },
  };
}

/** "meshwork.orders.v1.OrderService/PlaceOrder" -> service and method, as the client series label them. */
function split(fullName: string): { service: string; method: string } {
  const slash = fullName.lastIndexOf("/");
  return { service: fullName.slice(0, slash), method: fullName.slice(slash + 1) };
}
