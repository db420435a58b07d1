import type tls from "node:tls";
import { parseWorkloadId, uriSans, type WorkloadId } from "./spiffe-id.js";

/**
 * Why a connection has no mesh identity. Each is the ErrorInfo reason of the
 * UNAUTHENTICATED answer to any RPC on it, the label of the server's counter
 * and the `reason` of its log line.
 */
export type PeerRejection =
  /** Cleartext: only probes and metrics answer (grpc.health.v1, /healthz, /readyz, /metrics). */
  | "MTLS_REQUIRED"
  /** TLS without a client certificate. */
  | "CLIENT_CERTIFICATE_REQUIRED"
  /** A certificate that does not chain to the mesh's trust bundle (another CA, self-signed). */
  | "CERTIFICATE_UNKNOWN_ISSUER"
  /** A certificate past its notAfter (at the handshake, or since: checked on every call). */
  | "CERTIFICATE_EXPIRED"
  /** Any other verification failure (not yet valid, bad signature, wrong usage). */
  | "CERTIFICATE_INVALID"
  /** A valid certificate without a SPIFFE id of this mesh's trust domain. */
  | "IDENTITY_NOT_IN_TRUST_DOMAIN";

/** Who is at the other end of a connection, as its TLS handshake proved (or did not). */
export type Peer = VerifiedPeer | RejectedPeer;

export interface VerifiedPeer {
  readonly verified: true;
  readonly id: WorkloadId;
  /** The certificate's notAfter, epoch ms: calls after it are refused as CERTIFICATE_EXPIRED. */
  readonly notAfter: number;
}

export interface RejectedPeer {
  readonly verified: false;
  readonly reason: PeerRejection;
  /** For the server's log and the caller's error message: what was wrong, without any policy. */
  readonly detail: string;
}

/** The peer of a cleartext connection. */
export const cleartextPeer: RejectedPeer = {
  verified: false,
  reason: "MTLS_REQUIRED",
  detail: "cleartext connection: this port answers RPCs over mTLS only (cleartext reaches grpc.health.v1, /healthz, /readyz and /metrics)",
};

/**
 * The peer of a server-side TLS socket whose handshake asked for a client
 * certificate without rejecting a bad one: the chain as OpenSSL verified it
 * against the trust bundle, then the SPIFFE id in the trust domain.
 */
export function verifyPeer(socket: tls.TLSSocket, trustDomain: string): Peer {
  const cert = socket.getPeerCertificate();
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) {
    return { verified: false, reason: "CLIENT_CERTIFICATE_REQUIRED", detail: "no client certificate: this port requires mTLS with a mesh certificate" };
  }
  if (!socket.authorized) {
    const error = String(socket.authorizationError ?? "UNKNOWN");
    return { verified: false, reason: rejectionOf(error), detail: `client certificate refused: ${describeVerifyError(error)} (${error})` };
  }
  const sans = uriSans(cert.subjectaltname);
  const id = sans.length === 1 ? parseWorkloadId(sans[0]!) : undefined;
  if (id === undefined || id.trustDomain !== trustDomain) {
    return {
      verified: false,
      reason: "IDENTITY_NOT_IN_TRUST_DOMAIN",
      detail: `client certificate names ${sans.join(", ") || "no URI SAN"}, not a spiffe://${trustDomain}/... identity`,
    };
  }
  return { verified: true, id, notAfter: Date.parse(cert.valid_to) };
}

/** Node's (OpenSSL's) verify error codes, as people say them. */
export function describeVerifyError(code: string): string {
  switch (code) {
    case "CERT_HAS_EXPIRED":
      return "certificate expired";
    case "CERT_NOT_YET_VALID":
      return "certificate not valid yet";
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return "issued by a CA this mesh does not trust";
    case "CERT_SIGNATURE_FAILURE":
      return "certificate signature does not verify";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "certificate names another identity";
    default:
      return "certificate did not verify";
  }
}

function rejectionOf(code: string): PeerRejection {
  switch (describeVerifyError(code)) {
    case "certificate expired":
      return "CERTIFICATE_EXPIRED";
    case "issued by a CA this mesh does not trust":
      return "CERTIFICATE_UNKNOWN_ISSUER";
    default:
      return "CERTIFICATE_INVALID";
  }
}

const peerSymbol = Symbol("meshwork.peer");

/** Remembers the peer of a connection on its socket, for every request on it. */
export function attachPeer(socket: tls.TLSSocket, peer: Peer): void {
  (socket as unknown as Record<symbol, Peer>)[peerSymbol] = peer;
}

/**
 * The peer of the connection a request came on: what `attachPeer` put on its
 * socket, else cleartext. Takes the socket as Node hands it to a request,
 * including the proxies of node:http2 (`req.socket`, `session.socket`), which
 * pass property reads on to the socket.
 */
export function peerOfSocket(socket: object | null | undefined): Peer {
  return (socket as Record<symbol, Peer | undefined> | null | undefined)?.[peerSymbol] ?? cleartextPeer;
}
