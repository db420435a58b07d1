import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { envTargetEndpoints, type ClientTarget, type Env } from "../../mesh/index.js";

/** The demo's config, beside the gateway's code. */
export const defaultGatewayConfigFile = fileURLToPath(new URL("../gateway.yaml", import.meta.url));

/**
 * What the gateway fronts, read from one file (the demo's is
 * gateway/gateway.yaml): the descriptors of the services (a buf image), its
 * access policy, and each upstream — where it is and which services it
 * serves. A new public service needs a few lines here, not gateway code, and
 * the services need not be in this repository: only their image.
 */
export interface GatewayConfig {
  /** The config file, for messages. */
  readonly source: string;
  /** A buf image with imports (`buf build proto -o FILE`): a binary FileDescriptorSet. */
  readonly descriptorsFile: string;
  /** The access policy (gateway/auth/access-policy.ts): which methods are public, customer or admin. */
  readonly accessPolicyFile: string;
  readonly upstreams: readonly UpstreamConfig[];
}

export interface UpstreamConfig {
  /** The target's name: in breakers, metrics, logs, and the catalogue's service name. */
  readonly name: string;
  readonly endpoints: ClientTarget["endpoints"];
  /** Its versions' endpoints, when `endpoints` lists versions ("stable=...;canary=...", mesh/routing). */
  readonly versions?: ClientTarget["versions"];
  /** Full names of the services it serves, e.g. "meshwork.orders.v1.OrderService". */
  readonly services: readonly string[];
  /** The calls' default deadline; the client's own still caps it. Default: the mesh's (5 s). */
  readonly timeoutMs?: number;
  /** Whether /readyz fails while every breaker of this upstream with recent calls is open. Default: false. */
  readonly readiness: boolean;
}

/**
 * Reads a config file. `${NAME}` and `${NAME:-default}` in a value are
 * filled from `env` first (an unset variable without a default is an
 * error), so one file serves `make run`, tests and deployments. Relative
 * paths are resolved against the config file's folder. Unknown fields are
 * refused; every error names the file and the field.
 */
export function loadGatewayConfig(file: string, env: Env): GatewayConfig {
  const fail = (message: string): never => {
    throw new Error(`gateway config ${file}: ${message}`);
  };
  let document: unknown;
  try {
    document = parse(readFileSync(file, "utf8"));
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  const dir = path.dirname(file);
  const top = mapping(document, "the document", fail);
  allowOnly(top, ["descriptors", "access_policy", "upstreams"], "", fail);
  const text = (value: unknown, at: string): string => {
    if (typeof value !== "string" && typeof value !== "number") fail(`${at}: expected a string`);
    return interpolate(String(value), env, (message) => fail(`${at}: ${message}`)).trim();
  };
  const filePath = (value: unknown, at: string): string => path.resolve(dir, text(value, at));
  const descriptorsFile = filePath(top.descriptors, "descriptors");
  const accessPolicyFile = filePath(top.access_policy, "access_policy");
  if (!Array.isArray(top.upstreams) || top.upstreams.length === 0) fail("upstreams: expected a non-empty list");
  const upstreams = (top.upstreams as unknown[]).map((entry, i): UpstreamConfig => {
    const at = `upstreams[${i}]`;
    const u = mapping(entry, at, fail);
    allowOnly(u, ["name", "endpoints", "services", "timeout_ms", "readiness"], `${at}.`, fail);
    const name = text(u.name, `${at}.name`);
    if (!/^[a-z][a-z0-9-]*$/.test(name)) fail(`${at}.name: "${name}" is not a lowercase name`);
    let endpoints: ClientTarget["endpoints"] = [];
    let versions: ClientTarget["versions"];
    try {
      ({ endpoints, versions } = envTargetEndpoints({ [`${at}.endpoints`]: text(u.endpoints, `${at}.endpoints`) }, `${at}.endpoints`, ""));
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }
    if (!Array.isArray(u.services) || u.services.length === 0) fail(`${at}.services: expected a non-empty list of full service names`);
    const services = (u.services as unknown[]).map((s, j) => text(s, `${at}.services[${j}]`));
    let timeoutMs: number | undefined;
    if (u.timeout_ms !== undefined) {
      timeoutMs = Number(text(u.timeout_ms, `${at}.timeout_ms`));
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) fail(`${at}.timeout_ms: expected a whole number of milliseconds >= 1`);
    }
    if (u.readiness !== undefined && typeof u.readiness !== "boolean") fail(`${at}.readiness: expected true or false`);
    return {
      name,
      endpoints,
      ...(versions === undefined ? {} : { versions }),
      services,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      readiness: u.readiness === true,
    };
  });
  const names = upstreams.map((u) => u.name);
  const services = upstreams.flatMap((u) => u.services);
  for (const [i, name] of names.entries()) {
    if (names.indexOf(name) !== i) fail(`upstreams[${i}].name: "${name}" appears twice`);
  }
  for (const [i, service] of services.entries()) {
    if (services.indexOf(service) !== i) fail(`service ${service} is listed under two upstreams`);
  }
  return {
    source: file,
    descriptorsFile,
    accessPolicyFile,
    upstreams,
  };
}

/** Fills `${NAME}` and `${NAME:-default}` from `env`. */
function interpolate(value: string, env: Env, fail: (message: string) => never): string {
  // eslint-disable-next-line security/detect-unsafe-regex -- linear: the optional default is one [^}]* run ended by "}"
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
    const set = env[name];
    if (set !== undefined && set !== "") return set;
    if (fallback !== undefined) return fallback;
    return fail(`\${${name}} is not set and has no default`);
  });
}

function mapping(value: unknown, at: string, fail: (message: string) => never): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${at}: expected a mapping`);
  return value as Record<string, unknown>;
}

function allowOnly(o: Record<string, unknown>, allowed: readonly string[], prefix: string, fail: (message: string) => never): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) fail(`${prefix}${key}: unknown field (expected one of ${allowed.join(", ")})`);
  }
}
