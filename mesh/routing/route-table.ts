import { create, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RouteRulesSchema, type MethodRoute, type RouteRules } from "../../gen/meshwork/routing/v1/routing_pb.js";

/** A method's rule, ready for `chooseVersion`: weights as cumulative bounds. */
export interface CompiledRoute {
  readonly matches: readonly { readonly header: string; readonly value: string; readonly version: string }[];
  /** [version, upper bound] pairs; a draw d in [0, 100) picks the first version whose bound is above d. */
  readonly weights: readonly (readonly [string, number])[];
  readonly stickyHeader: string | undefined;
  readonly mirror: { readonly version: string; readonly percent: number } | undefined;
}

/** What a process knows of a target it routes: its versions (stable first) and the methods called on it. */
export interface RoutedTarget {
  readonly versions: readonly string[];
  readonly services: readonly DescService[];
}

type Listener = (rules: RouteRules, source: string) => void;

/**
 * The routing rules a process applies to its outbound calls, and the targets
 * it routes between versions. One per process: the client factory registers
 * every target configured with versions, the routes file and the operator's
 * SetRoutes replace the rules, and each call looks its method's rule up here
 * (compiled once per rules and method, not per call).
 *
 * Rules are checked against the registered targets before they replace the
 * current ones: a version a target does not have, weights that do not add up
 * to 100, or a mirror on a method that has side effects refuse the whole set
 * (InvalidArgument naming each problem) and leave the current rules in force.
 * Rules for a target this process does not call are kept but not used: one
 * routes file serves every process of the mesh.
 */
export class RouteTable {
  private rules: RouteRules = create(RouteRulesSchema);
  private sourceName = "none";
  private readonly targets = new Map<string, RoutedTarget>();
  private compiled = new Map<string, CompiledRoute | null>();
  private readonly listeners: Listener[] = [];

  /** The rules in force. */
  get current(): RouteRules {
    return this.rules;
  }

  /** Where the rules in force came from: "file:<path>", "rpc" or "none". */
  get source(): string {
    return this.sourceName;
  }

  /** Makes `name` a routed target; its versions' first is the stable one, used when no rule applies. */
  registerTarget(name: string, target: RoutedTarget): void {
    if (target.versions.length === 0) {
      throw new Error(`routed target ${name}: at least one version is required`);
    }
    const known = this.targets.get(name);
    this.targets.set(name, {
      versions: target.versions,
      services: [...new Set([...(known?.services ?? []), ...target.services])],
    });
    this.compiled.clear();
  }

  /** The problems that would refuse `rules`; empty when they can replace the current ones. */
  check(rules: RouteRules): string[] {
    const problems: string[] = [];
    for (const [name, routes] of Object.entries(rules.targets)) {
      const target = this.targets.get(name);
      if (target === undefined) {
        continue;
      }
      const methods = new Map<string, DescMethod>();
      for (const service of target.services) {
        for (const method of service.methods) {
          methods.set(`${service.typeName}/${method.name}`, method);
        }
      }
      if (routes.allMethods !== undefined) {
        problems.push(...checkRoute(`${name}.all_methods`, routes.allMethods, target, [...methods.values()]));
      }
      for (const [methodName, route] of Object.entries(routes.methods)) {
        const method = methods.get(methodName);
        if (method === undefined) {
          problems.push(`${name}.methods["${methodName}"]: ${name} has no such method`);
          continue;
        }
        problems.push(...checkRoute(`${name}.methods["${methodName}"]`, route, target, [method]));
      }
    }
    return problems;
  }

  /**
   * Replaces the rules, or throws InvalidArgument naming every problem and
   * keeps the current ones. Listeners hear of the change.
   */
  replace(rules: RouteRules, source: string): void {
    const problems = this.check(rules);
    if (problems.length > 0) {
      throw new ConnectError(`routing rules refused: ${problems.join("; ")}`, Code.InvalidArgument);
    }
    this.rules = rules;
    this.sourceName = source;
    this.compiled = new Map();
    for (const listener of this.listeners) {
      listener(rules, source);
    }
  }

  /** Called with the new rules after each replacement. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** The versions of a routed target, stable first; undefined for a target not routed here. */
  versionsOf(target: string): readonly string[] | undefined {
    return this.targets.get(target)?.versions;
  }

  /** The rule for one method of a target (its own, else the target's all_methods), or undefined for none. */
  routeFor(target: string, method: string): CompiledRoute | undefined {
    const key = `${target}\u0000${method}`;
    let route = this.compiled.get(key);
    if (route === undefined) {
      const routes = this.rules.targets[target];
      const rule = routes?.methods[method] ?? routes?.allMethods;
      route = rule === undefined ? null : compile(rule);
      this.compiled.set(key, route);
    }
    return route ?? undefined;
  }
}

function checkRoute(where: string, route: MethodRoute, target: RoutedTarget, methods: readonly DescMethod[]): string[] {
  const problems: string[] = [];
  const known = (version: string): boolean => target.versions.includes(version);
  for (const [i, match] of route.matches.entries()) {
    if (!known(match.version)) {
      problems.push(`${where}.matches[${i}]: unknown version "${match.version}" (known: ${target.versions.join(", ")})`);
    }
  }
  const weights = Object.entries(route.weights);
  for (const [version] of weights) {
    if (!known(version)) {
      problems.push(`${where}.weights: unknown version "${version}" (known: ${target.versions.join(", ")})`);
    }
  }
  const sum = weights.reduce((total, [, weight]) => total + weight, 0);
  if (weights.length > 0 && sum !== 100) {
    problems.push(`${where}.weights: add up to ${sum}, not 100`);
  }
  if (route.mirror !== undefined && route.mirror.percent > 0) {
    if (!known(route.mirror.version)) {
      problems.push(`${where}.mirror: unknown version "${route.mirror.version}" (known: ${target.versions.join(", ")})`);
    }
    const unsafe = methods.filter((m) => m.methodKind !== "unary" || m.idempotency !== IdempotencyLevel.NO_SIDE_EFFECTS);
    if (unsafe.length > 0) {
      problems.push(`${where}.mirror: only methods without side effects may be mirrored, not ${unsafe.map((m) => m.name).join(", ")}`);
    }
  }
  return problems;
}

function compile(route: MethodRoute): CompiledRoute {
  let bound = 0;
  const weights = Object.entries(route.weights)
    .filter(([, weight]) => weight > 0)
    .map(([version, weight]) => [version, (bound += weight)] as const);
  return {
    matches: route.matches.map(({ header, value, version }) => ({ header, value, version })),
    weights,
    stickyHeader: route.stickyHeader === "" ? undefined : route.stickyHeader,
    mirror: route.mirror === undefined || route.mirror.percent === 0 ? undefined : { version: route.mirror.version, percent: route.mirror.percent },
  };
}
