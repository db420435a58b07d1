import type { PeerCertificate } from "node:tls";
import { parseWorkloadId, uriSans } from "./spiffe-id.js";

/** The error a client's TLS handshake fails with when the server is not whom it expects. */
export class ServerIdentityError extends Error {
  readonly code = "ERR_TLS_CERT_ALTNAME_INVALID";
}

/**
 * A `checkServerIdentity` for tls.connect that checks SPIFFE ids instead of
 * host names (SPIFFE's rule: the URI SAN is the identity; DNS names and IPs
 * are not looked at, so the same check holds on 127.0.0.1, a pod IP or a
 * Service name): the server's certificate must carry
 * spiffe://<trustDomain>/service/<service>, or any service identity of the
 * trust domain when `service` is undefined. The chain itself is verified by
 * TLS against the trust bundle before this runs.
 */
export function checkServerIdentity(trustDomain: string, service: string | undefined): (host: string, cert: PeerCertificate) => Error | undefined {
  const expected = service === undefined ? `spiffe://${trustDomain}/service/<any>` : `spiffe://${trustDomain}/service/${service}`;
  return (host, cert) => {
    const sans = uriSans(cert.subjectaltname);
    const id = sans.length === 1 ? parseWorkloadId(sans[0]!) : undefined;
    if (id !== undefined && id.trustDomain === trustDomain && id.kind === "service" && (service === undefined || id.name === service)) {
      return undefined;
    }
    return new ServerIdentityError(`the server at ${host} is ${sans.join(", ") || "no SPIFFE identity"}, expected ${expected}`);
  };
}
