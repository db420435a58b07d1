import { parse, YAMLParseError } from "yaml";

/**
 * One service's catalogue entry, read from its `service.yaml`: who owns it,
 * what it is for, how critical it is, whom it calls, which tables it owns and
 * the objectives it promises. The code is checked against it in `make test`
 * (platform/catalogue/catalogue.test.ts), so the catalogue cannot drift.
 */
export interface ServiceManifest {
  /** The service's name: its folder under services/ ("gateway" for the edge), its process and its Prometheus job. */
  readonly name: string;
  /** The team that owns it end to end: a role, e.g. "orders team". */
  readonly owner: string;
  readonly description: string;
  /** 1: customers notice at once when it fails; 2: they notice later; 3: internal only. */
  readonly tier: 1 | 2 | 3;
  /**
   * Its port on one machine: what its main listens on when PORT is unset,
   * and where `make run` starts it (`<NAME>_PORT` overrides). Unique in the
   * catalogue.
   */
  readonly port: number;
  /** The services its main builds clients of (RPC targets, and event streams it pulls from a producer's port). */
  readonly dependencies: readonly string[];
  /** The tables its own database holds (what its migrations create). Nobody else opens that database. */
  readonly data: readonly string[];
  readonly slos: readonly Slo[];
}

/**
 * A service-level objective over a 30-day period (the SRE workbook's): the
 * share of good events among all events, for one RPC method the service
 * answers or, for the gateway, one REST route.
 */
export interface Slo {
  /** Unique within the service; kebab-case: it becomes a Prometheus label value. */
  readonly name: string;
  readonly description: string;
  /** Percent of good events, e.g. 99.9 (an error budget of 0.1%). */
  readonly objective: number;
  readonly sli: Sli;
}

/**
 * What counts as good. Availability: the call did not end in a server error
 * (a code the gateway maps to 5xx: unknown, internal, unimplemented,
 * unavailable, deadline_exceeded, data_loss; for a route, an HTTP status of
 * 500 or more); client mistakes and business refusals are the service
 * working. Latency: the call ended within `belowSeconds`, which must be one
 * of the latency histogram's bucket bounds, so the SLI is exact, not
 * interpolated.
 */
export type Sli =
  | { readonly kind: "availability"; readonly subject: SliSubject }
  | { readonly kind: "latency"; readonly subject: SliSubject; readonly belowSeconds: number };

/** An RPC method by full name ("meshwork.orders.v1.OrderService/PlaceOrder"), or a gateway route ("POST /v1/orders"). */
export type SliSubject =
  | { readonly method: string }
  | { readonly route: { readonly httpMethod: string; readonly template: string } };

const kebab = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const fullMethod = /^([a-z][a-z0-9_]*\.)+[A-Z][A-Za-z0-9]*\/[A-Z][A-Za-z0-9]*$/;
const routePattern = /^(GET|POST|PUT|PATCH|DELETE) (\/\S*)$/;

/** A manifest that does not follow the schema; the message names the file and the field. */
export class ManifestError extends Error {
  override readonly name = "ManifestError";
}

/**
 * Parses and validates one `service.yaml`. `source` (its path) prefixes
 * every error. Unknown fields are refused, so a typo cannot silently drop an
 * objective.
 */
export function parseServiceManifest(text: string, source: string): ServiceManifest {
  const fail = (message: string): never => {
    throw new ManifestError(`${source}: ${message}`);
  };
  let document: unknown;
  try {
    document = parse(text);
  } catch (err) {
    return fail(err instanceof YAMLParseError ? err.message : String(err));
  }
  const top = object(document, "the document", fail);
  allowOnly(top, ["name", "owner", "description", "tier", "port", "dependencies", "data", "slos"], "", fail);
  const name = string(top.name, "name", fail);
  if (!kebab.test(name)) fail(`name: "${name}" is not kebab-case`);
  const tier = top.tier;
  if (tier !== 1 && tier !== 2 && tier !== 3) fail(`tier: expected 1, 2 or 3, got ${JSON.stringify(tier)}`);
  const port = top.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) fail(`port: expected a port number, got ${JSON.stringify(port)}`);
  const dependencies = names(top.dependencies, "dependencies", fail);
  if (dependencies.includes(name)) fail(`dependencies: a service does not depend on itself`);
  const data = names(top.data, "data", fail, /^[a-z_][a-z0-9_]*$/);
  const slos = list(top.slos ?? [], "slos", fail).map((entry, i) => slo(entry, `slos[${i}]`, fail));
  const seen = new Set<string>();
  for (const [i, s] of slos.entries()) {
    if (seen.has(s.name)) fail(`slos[${i}].name: "${s.name}" appears twice`);
    seen.add(s.name);
  }
  return {
    name,
    owner: string(top.owner, "owner", fail),
    description: string(top.description, "description", fail),
    tier: tier as 1 | 2 | 3,
    port: port as number,
    dependencies,
    data,
    slos,
  };
}

type Fail = (message: string) => never;

function slo(entry: unknown, at: string, fail: Fail): Slo {
  const o = object(entry, at, fail);
  allowOnly(o, ["name", "description", "objective", "availability", "latency"], `${at}.`, fail);
  const name = string(o.name, `${at}.name`, fail);
  if (!kebab.test(name)) fail(`${at}.name: "${name}" is not kebab-case`);
  const objective = o.objective;
  if (typeof objective !== "number" || !(objective > 0 && objective < 100)) {
    fail(`${at}.objective: expected a percentage between 0 and 100 (exclusive), e.g. 99.9`);
  }
  const kinds = (["availability", "latency"] as const).filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) fail(`${at}: give exactly one of availability or latency`);
  const kind = kinds[0]!;
  const spec = object(o[kind], `${at}.${kind}`, fail);
  allowOnly(spec, kind === "latency" ? ["method", "route", "below_seconds"] : ["method", "route"], `${at}.${kind}.`, fail);
  const subject = sliSubject(spec, `${at}.${kind}`, fail);
  const description = string(o.description, `${at}.description`, fail);
  if (kind === "availability") {
    return { name, description, objective: objective as number, sli: { kind, subject } };
  }
  const below = spec.below_seconds;
  if (typeof below !== "number" || !(below > 0)) fail(`${at}.latency.below_seconds: expected a positive number of seconds`);
  return { name, description, objective: objective as number, sli: { kind, subject, belowSeconds: below as number } };
}

function sliSubject(spec: Record<string, unknown>, at: string, fail: Fail): SliSubject {
  if ((spec.method === undefined) === (spec.route === undefined)) fail(`${at}: give exactly one of method or route`);
  if (spec.method !== undefined) {
    const method = string(spec.method, `${at}.method`, fail);
    if (!fullMethod.test(method)) fail(`${at}.method: "${method}" is not package.Service/Method`);
    return { method };
  }
  const route = string(spec.route, `${at}.route`, fail);
  const match = routePattern.exec(route);
  if (match === null) fail(`${at}.route: "${route}" is not "<HTTP method> <path template>", e.g. "POST /v1/orders"`);
  return { route: { httpMethod: match![1]!, template: match![2]! } };
}

function object(value: unknown, at: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${at}: expected a mapping`);
  return value as Record<string, unknown>;
}

function list(value: unknown, at: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(`${at}: expected a list`);
  return value as unknown[];
}

function string(value: unknown, at: string, fail: Fail): string {
  if (typeof value !== "string" || value.trim() === "") fail(`${at}: expected a non-empty string`);
  return (value as string).trim();
}

function names(value: unknown, at: string, fail: Fail, pattern = kebab): string[] {
  const entries = list(value ?? [], at, fail).map((v, i) => string(v, `${at}[${i}]`, fail));
  for (const [i, entry] of entries.entries()) {
    if (!pattern.test(entry)) fail(`${at}[${i}]: "${entry}" is not a valid name`);
    if (entries.indexOf(entry) !== i) fail(`${at}[${i}]: "${entry}" appears twice`);
  }
  return entries;
}

function allowOnly(o: Record<string, unknown>, allowed: readonly string[], prefix: string, fail: Fail): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) fail(`${prefix}${key}: unknown field (expected one of ${allowed.join(", ")})`);
  }
}
