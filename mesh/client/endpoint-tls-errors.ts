import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { failure } from "../errors.js";
import { describeVerifyError } from "../identity/peer.js";
import type { EndpointTransport } from "../balancing/balanced-transport.js";

/** A TLS failure of a client connection, as a reason and words. */
interface TlsFailure {
  readonly reason: string;
  readonly detail: string;
}

/** Node's certificate verify codes that mean the server's certificate is not one the mesh trusts. */
const untrusted = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

/**
 * What went wrong in a TLS handshake, from the Node error somewhere in the
 * cause chain (h2 and connect-node transports) or the message grpc-js puts
 * in its status details. Undefined when the failure is not about TLS.
 */
export function tlsFailureOf(err: unknown): TlsFailure | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const found = typeof code === "string" ? fromCode(code, e.message) : undefined;
    if (found !== undefined) {
      return found;
    }
  }
  if (err instanceof ConnectError && err.code !== Code.Unavailable) {
    // The server answered: not a handshake failure.
    return undefined;
  }
  const text = err instanceof Error ? err.message : String(err);
  if (/certificate has expired/i.test(text)) {
    return fromCode("CERT_HAS_EXPIRED", text);
  }
  if (/unable to (get local issuer|verify the first) certificate|self[- ]signed certificate/i.test(text)) {
    return fromCode("UNABLE_TO_VERIFY_LEAF_SIGNATURE", text);
  }
  if (/expected spiffe:\/\//.test(text)) {
    return fromCode("ERR_TLS_CERT_ALTNAME_INVALID", text);
  }
  if (/wrong version number|packet length too long|http request/i.test(text)) {
    return fromCode("ERR_SSL_WRONG_VERSION_NUMBER", text);
  }
  return undefined;
}

function fromCode(code: string, message: string): TlsFailure | undefined {
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return { reason: "SERVER_IDENTITY_MISMATCH", detail: message.replace(/^.*?(the server at )/, "$1") };
  }
  if (code === "CERT_HAS_EXPIRED") {
    return { reason: "SERVER_CERTIFICATE_EXPIRED", detail: "the server's certificate has expired" };
  }
  if (untrusted.has(code)) {
    return { reason: "SERVER_CERTIFICATE_UNTRUSTED", detail: `the server's certificate is ${describeVerifyError(code)} (${code})` };
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG" || code === "ERR_SSL_HTTP_REQUEST") {
    return { reason: "SERVER_NOT_TLS", detail: "the server does not speak TLS (is it running with MESH_INSECURE=1?)" };
  }
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) {
    return { reason: "TLS_HANDSHAKE_FAILED", detail: `TLS handshake failed: ${message} (${code})` };
  }
  return undefined;
}

/**
 * An endpoint transport whose TLS failures name the target, the endpoint and
 * the reason (Unavailable, with an ErrorInfo reason such as
 * SERVER_CERTIFICATE_UNTRUSTED), instead of a bare Unavailable or Internal:
 * "payments at https://10.0.0.5:50052: the server's certificate is issued by
 * a CA this mesh does not trust". Unavailable, because the endpoint cannot
 * serve this client, as when it is down: the balancer ejects it and the
 * breaker counts it.
 */
export function withTlsFailuresNamed(transport: EndpointTransport, target: string, baseUrl: string): EndpointTransport {
  const rename = (err: unknown): never => {
    const tlsFailure = tlsFailureOf(err);
    if (tlsFailure === undefined) {
      throw err;
    }
    throw failure(Code.Unavailable, tlsFailure.reason, `${target} at ${baseUrl}: ${tlsFailure.detail}`, {
      cause: err instanceof ConnectError ? (err.cause ?? err) : err,
      metadata: { target, endpoint: baseUrl },
    });
  };
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      return transport.unary(method, signal, timeoutMs, header, input, contextValues).catch(rename);
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      return transport.stream(method, signal, timeoutMs, header, input, contextValues).catch(rename);
    },
    ...(transport.close === undefined ? {} : { close: () => transport.close?.() }),
  };
}
