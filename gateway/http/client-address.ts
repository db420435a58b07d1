import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * The client's address as the gateway keys its limits on it: the socket peer,
 * unless the peer is a trusted proxy (`trustedProxies`, CIDRs or single
 * addresses); then the right-most X-Forwarded-For entry that is not a trusted
 * proxy. Entries left of that one were written by the client and prove
 * nothing; an X-Forwarded-For from an untrusted peer is ignored. IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) count as their IPv4 address.
 */
export type ClientAddressOf = (peer: string, forwardedFor: string | string[] | undefined) => string;

/**
 * Parses `trustedProxies` once; throws naming an entry that is not an address
 * or a CIDR, and `source` (where the list came from, e.g. a variable).
 */
export function clientAddressResolver(trustedProxies: readonly string[], source = "trusted proxies"): ClientAddressOf {
  const ranges = trustedProxies.map((entry) => parseRange(entry, source));
  const trusted = (address: Address | undefined): boolean =>
    address !== undefined && ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  return (peer, forwardedFor) => {
    const peerAddress = parse(peer);
    const client = peerAddress?.toString() ?? peer;
    if (ranges.length === 0 || !trusted(peerAddress) || forwardedFor === undefined) {
      return client;
    }
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",").map((hop) => hop.trim());
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      const address = parse(hop);
      if (!trusted(address)) {
        // A malformed entry is kept as written (bounded): the client is whoever wrote it.
        return address?.toString() ?? hop.slice(0, maxUnparsedLength);
      }
    }
    // Every hop is a trusted proxy: the left-most one is the origin.
    return parse(hops[0] ?? "")?.toString() ?? client;
  };
}

/** Enough for any textual IP address, with a zone or a port. */
const maxUnparsedLength = 64;

function parse(text: string): Address | undefined {
  if (!ipaddr.isValid(text)) {
    return undefined;
  }
  const address = ipaddr.parse(text);
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

function parseRange(entry: string, source: string): [Address, number] {
  const text = entry.trim();
  try {
    if (text.includes("/")) {
      const [range, bits] = ipaddr.parseCIDR(text);
      return range.kind() === "ipv6" && (range as ipaddr.IPv6).isIPv4MappedAddress() ? [(range as ipaddr.IPv6).toIPv4Address(), bits - 96] : [range, bits];
    }
    const address = parse(text);
    if (address !== undefined) {
      return [address, address.kind() === "ipv4" ? 32 : 128];
    }
  } catch {
    // Reported below, with the entry.
  }
  throw new Error(`${source}: ${JSON.stringify(entry)} is not an IP address or a CIDR range`);
}
