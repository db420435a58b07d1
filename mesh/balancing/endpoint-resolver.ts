import dns from "node:dns";

/**
 * Where a target's endpoints are. A balanced transport asks again every
 * `refreshMs` (when set); a resolver that can change its answer says how
 * long an answer stays fresh, a static one leaves it unset.
 */
export interface EndpointResolver {
  /** Base URLs such as "http://127.0.0.1:50051"; rejects when resolution fails. */
  resolve(): Promise<string[]>;
  /** How often to resolve again. Unset: the answer never changes. */
  readonly refreshMs?: number;
}

/** A fixed list of base URLs, e.g. two inventory processes in split mode. */
export function staticEndpoints(urls: readonly string[]): EndpointResolver {
  if (urls.length === 0) {
    throw new Error("staticEndpoints: at least one URL is required");
  }
  const copy = [...urls];
  return { resolve: () => Promise.resolve([...copy]) };
}

/** The part of `dns.promises.lookup` the DNS resolver uses; injectable for tests. */
export type LookupAll = (
  host: string,
  options: { all: true; family?: number },
) => Promise<dns.LookupAddress[]>;

export interface DnsEndpointsOptions {
  /** A name that may resolve to several addresses, e.g. "inventory" or "localhost". */
  readonly host: string;
  readonly port: number;
  /** Default: "http" (cleartext HTTP/2); "https" for mTLS. */
  readonly protocol?: "http" | "https";
  /**
   * Default: 30 s. Long enough not to load the resolver, short enough that a
   * scaled-up service is used within a minute.
   */
  readonly refreshMs?: number;
  /**
   * Restricts addresses to one family. Default: both. Use 4 when servers bind
   * 127.0.0.1 only and the name ("localhost") also resolves to ::1.
   */
  readonly family?: 4 | 6;
  /** Default: `dns.promises.lookup`, which reads /etc/hosts as well as DNS. */
  readonly lookup?: LookupAll;
}

/**
 * Resolves a name to one endpoint per address. The list is sorted and
 * deduplicated so that an unchanged answer keeps every endpoint's identity
 * (and its outlier state) across refreshes, whatever order the resolver used.
 */
export function dnsEndpoints(options: DnsEndpointsOptions): EndpointResolver {
  const protocol = options.protocol ?? "http";
  const lookup: LookupAll = options.lookup ?? dns.promises.lookup;
  const lookupOptions = options.family === undefined ? { all: true as const } : { all: true as const, family: options.family };
  return {
    refreshMs: options.refreshMs ?? 30_000,
    async resolve() {
      const addresses = await lookup(options.host, lookupOptions);
      const urls = addresses.map(({ address, family }) =>
        `${protocol}://${family === 6 ? `[${address}]` : address}:${options.port}`,
      );
      return [...new Set(urls)].sort();
    },
  };
}
