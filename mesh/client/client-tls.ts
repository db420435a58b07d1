import type http2 from "node:http2";
import tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { checkServerIdentity } from "../identity/server-identity.js";
import type { WorkloadCredentials } from "../identity/workload-credentials.js";

/**
 * How a client dials one target over mTLS: the process's current workload
 * credentials (read when a connection is made, so a new connection after a
 * rotation presents the new certificate) and the identity the server must
 * prove.
 */
export interface ClientTls {
  readonly credentials: WorkloadCredentials;
  /** The workload name the server must carry (spiffe://<td>/service/<name>); undefined: any service of the trust domain. */
  readonly service: string | undefined;
}

/** node:http2 session options that open every connection over mTLS (h2 transport, connect-node). */
export function http2TlsOptions(clientTls: ClientTls): http2.SecureClientSessionOptions {
  return {
    createConnection: (authority: URL) => {
      const current = clientTls.credentials.current;
      return tls.connect({
        host: authority.hostname.replace(/^\[|\]$/g, ""),
        port: Number(authority.port || 443),
        secureContext: current.secureContext,
        minVersion: "TLSv1.3",
        ALPNProtocols: ["h2"],
        checkServerIdentity: checkServerIdentity(current.id.trustDomain, clientTls.service),
      });
    },
  };
}

/**
 * grpc-js channel credentials and options for the same: grpc-js reads them
 * when the channel is made, so a rotation makes a new channel (see
 * rotating-transport.ts).
 */
export function grpcJsTls(clientTls: ClientTls): { credentials: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions } {
  const current = clientTls.credentials.current;
  return {
    credentials: grpc.credentials.createFromSecureContext(current.secureContext, {
      checkServerIdentity: checkServerIdentity(current.id.trustDomain, clientTls.service),
    }),
    // The name sent as SNI: grpc-js would send the IP address, which TLS does
    // not allow (Node warns); the server identity is checked by SPIFFE id.
    channelOptions: { "grpc.ssl_target_name_override": current.id.trustDomain },
  };
}
