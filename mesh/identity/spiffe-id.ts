/**
 * Workload identities are SPIFFE ids in the URI SAN of an X.509 certificate
 * (the X.509-SVID of the SPIFFE spec), as Istio and Linkerd give them:
 * spiffe://<trust domain>/service/<name> for a mesh process (each service,
 * the gateway, nats-server) and spiffe://<trust domain>/operator/<name> for a
 * person's tool (buf curl with a certificate from `make cert`).
 */
export type IdentityKind = "service" | "operator";

export interface WorkloadId {
  readonly trustDomain: string;
  readonly kind: IdentityKind;
  readonly name: string;
  /** The SPIFFE id as a URI, e.g. spiffe://meshwork.local/service/orders. */
  readonly uri: string;
}

/** The trust domain when none is configured (MESH_TRUST_DOMAIN). */
export const defaultTrustDomain = "meshwork.local";

/** Trust domains as SPIFFE allows them: lower-case letters, digits, dots, dashes, underscores. */
export const trustDomainPattern = /^[a-z0-9._-]{1,255}$/;

/** Workload names: what the contract's callers name, e.g. "orders", "alice-operator". */
export const workloadNamePattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The identity of `kind` `name` in `trustDomain`; throws on a malformed part. */
export function workloadId(trustDomain: string, kind: IdentityKind, name: string): WorkloadId {
  if (!trustDomainPattern.test(trustDomain)) {
    throw new Error(`trust domain "${trustDomain}" must match ${trustDomainPattern.source}`);
  }
  if (!workloadNamePattern.test(name)) {
    throw new Error(`workload name "${name}" must match ${workloadNamePattern.source}`);
  }
  return { trustDomain, kind, name, uri: `spiffe://${trustDomain}/${kind}/${name}` };
}

const idPattern = /^spiffe:\/\/([a-z0-9._-]{1,255})\/(service|operator)\/([a-z0-9][a-z0-9._-]{0,62})$/;

/** A mesh identity from its URI, or undefined when it is not one (another path, not SPIFFE). */
export function parseWorkloadId(uri: string): WorkloadId | undefined {
  const match = idPattern.exec(uri);
  if (match === null) {
    return undefined;
  }
  return { trustDomain: match[1]!, kind: match[2] as IdentityKind, name: match[3]!, uri };
}

/**
 * The URI SANs of a certificate as Node reports them (`subjectaltname` of
 * tls's peer certificate, `subjectAltName` of crypto.X509Certificate):
 * "URI:spiffe://..., DNS:...". An X.509-SVID has exactly one.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === "") {
    return [];
  }
  return subjectAltName
    .split(/,\s*/)
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice(4));
}
