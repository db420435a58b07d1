/**
 * Typed readers of a process's environment. Only a process's main calls them
 * (with `process.env`); every other module takes typed options. A malformed
 * value stops the process at start with a message naming the variable.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export function envString(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === "" ? fallback : value;
}

export function envInt(env: Env, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw === "") {
    return fallback;
  }
  const value = Number(raw);
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name}=${raw} is not an integer in [${min}, ${max}]`);
  }
  return value;
}

/** One of `choices`, or `fallback` when unset; any other value stops the process naming the variable. */
export function envChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T | ""): T | "" {
  const raw = envString(env, name, fallback);
  if (raw !== "" && !(choices as readonly string[]).includes(raw)) {
    throw new Error(`${name}=${raw}: expected one of ${choices.join(", ")}`);
  }
  return raw as T | "";
}

/**
 * A target's endpoints: a comma-separated list of base URLs
 * ("http://127.0.0.1:50051,http://127.0.0.1:50061"), or "dns:<host>:<port>"
 * for a name resolving to several addresses (re-resolved periodically).
 */
export function envEndpoints(env: Env, name: string, fallback: string): string[] | { host: string; port: number } {
  const raw = envString(env, name, fallback).trim();
  const dns = /^dns:([^:]+):(\d{1,5})$/.exec(raw);
  if (dns !== null) {
    return { host: dns[1]!, port: Number(dns[2]) };
  }
  const urls = raw.split(",").map((u) => u.trim());
  for (const url of urls) {
    if (!/^https?:\/\/[^/\s]+$/.test(url)) {
      throw new Error(`${name}=${raw}: expected https://host:port[,https://host:port...] (http:// with MESH_INSECURE=1) or dns:host:port`);
    }
  }
  return urls;
}

/**
 * A target's endpoints, or its versions' endpoints when the value lists
 * versions: "stable=http://127.0.0.1:50053;canary=http://127.0.0.1:50063",
 * each version's endpoints in `envEndpoints`' syntax, separated by ";"; the
 * first version is the stable one (mesh/routing). Without "=" it is one
 * unversioned target, as `envEndpoints` reads it.
 */
export function envTargetEndpoints(
  env: Env,
  name: string,
  fallback: string,
): { endpoints: string[] | { host: string; port: number }; versions?: Record<string, string[] | { host: string; port: number }> } {
  const raw = envString(env, name, fallback).trim();
  if (!/^[a-z0-9][a-z0-9.-]*=/i.test(raw)) {
    return { endpoints: envEndpoints(env, name, fallback) };
  }
  const versions: Record<string, string[] | { host: string; port: number }> = {};
  for (const part of raw.split(";")) {
    const match = /^\s*([a-z0-9][a-z0-9.-]{0,63})=(.+)$/i.exec(part);
    if (match === null) {
      throw new Error(`${name}=${raw}: expected version=endpoints[;version=endpoints...]`);
    }
    const [, version, endpoints] = match as unknown as [string, string, string];
    if (version in versions) {
      throw new Error(`${name}=${raw}: version ${version} is listed twice`);
    }
    versions[version] = envEndpoints({ [name]: endpoints }, name, "");
  }
  const stable = Object.values(versions)[0]!;
  return { endpoints: stable, versions };
}
