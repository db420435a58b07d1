import type http2 from "node:http2";
import {
  create,
  isMessage,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createMethodUrl, getAbortSignalReason } from "@connectrpc/connect/protocol";
import { requestHeader } from "@connectrpc/connect/protocol-grpc";
import { H2SessionPool } from "./h2-session-pool.js";
import { neverAborted, unaryCall } from "./h2-unary-call.js";

export interface H2GrpcTransportOptions {
  /** The endpoint, e.g. "http://127.0.0.1:50051"; cleartext HTTP/2 (or https). */
  readonly baseUrl: string;
  /** Client interceptors for every unary call, outermost first (Connect's order). */
  readonly interceptors?: readonly Interceptor[];
  /**
   * Where streaming calls go (e.g. connect-node's `createGrpcTransport` to the
   * same endpoint). Without it, streaming calls fail with Unimplemented.
   */
  readonly fallback?: Transport;
  /**
   * Options of every node:http2 session it opens, e.g. `createConnection`
   * for mTLS (client-tls.ts). Default: none (cleartext for http://).
   */
  readonly sessionOptions?: http2.SecureClientSessionOptions;
}

/** A Connect transport that owns one HTTP/2 session at a time; close it on shutdown. */
export type H2GrpcTransport = Transport & { close(): void };

type AnyUnary = (req: UnaryRequest) => Promise<UnaryResponse>;

/**
 * A Connect transport for unary gRPC calls straight on node:http2: the client
 * counterpart of the server's unary fast path (grpc-unary-fast-path.ts).
 *
 * connect-node's gRPC transport runs even a unary call through its streaming
 * pipeline (async iterables, a sentinel, linked AbortControllers, a deadline
 * signal, several Headers conversions). A unary call needs one request frame
 * out and one response frame plus trailers back, which is all this does.
 *
 * It behaves as connect-node's `createGrpcTransport` does, so callers cannot
 * tell them apart:
 * - interceptors see the same UnaryRequest (same headers: content-type
 *   application/grpc+proto, user-agent, te, grpc-timeout when there is a
 *   timeout; same url; message normalized) and may change it;
 * - the grpc-timeout on the request after the interceptors arms the deadline
 *   (DeadlineExceeded "the operation timed out", stream reset with CANCEL);
 * - the caller's abort resets the stream and fails with Canceled;
 * - errors come from Connect's own `findTrailerError`, with the response
 *   headers added to the metadata as connect-node adds them;
 * - a connection that cannot be made fails with Unavailable and the Node
 *   error (e.g. ECONNREFUSED) as `cause`, as connect-node's does.
 *
 * Differences, all deliberate: a stream the server refuses (RST_STREAM
 * REFUSED_STREAM) fails with Unavailable (connect-node: Internal), with the
 * same Node error (ERR_HTTP2_STREAM_ERROR) as `cause`; no
 * grpc-accept-encoding is sent, so a conforming server never compresses the
 * response; `req.signal` is the caller's signal as is (or a shared one that
 * never aborts), not a per-call signal aborted on completion.
 *
 * One HTTP/2 session per transport, opened on the first call and reused; a
 * new one is opened once it closes, errors or receives GOAWAY (calls in flight
 * finish on the old one). An idle session does not keep the process alive.
 * A connect that fails or does not complete within 2 s fails as refused
 * (nothing was sent), and a session with calls in flight whose peer stops
 * answering PINGs is destroyed within 3 s (a host that died without closing
 * its connections; see H2DeadPeerOptions).
 *
 * The parts: the session pool (h2-session-pool.ts), one call on a stream
 * (h2-unary-call.ts), the response read into a message or an error
 * (h2-response.ts), and the Node error and reset code maps (h2-errors.ts).
 */
export function createH2GrpcTransport(options: H2GrpcTransportOptions): H2GrpcTransport {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const sessions = new H2SessionPool(baseUrl, {}, options.sessionOptions ?? {});
  const paths = new Map<string, string>();
  const pathOf = (url: string): string => {
    let path = paths.get(url);
    if (path === undefined) {
      const parsed = new URL(url);
      path = parsed.pathname + parsed.search;
      if (paths.size < 10_000) {
        paths.set(url, path);
      }
    }
    return path;
  };
  const bottom: AnyUnary = (req) => {
    if (sessions.closed) {
      return Promise.reject(new ConnectError("h2-grpc transport: closed", Code.Unavailable));
    }
    return new Promise<UnaryResponse>((resolve, reject) => {
      unaryCall(sessions, pathOf(req.url), req, resolve, reject);
    });
  };
  const chain = (options.interceptors ?? []).reduceRight<AnyUnary>(
    (next, interceptor) => interceptor(next as never) as unknown as AnyUnary,
    bottom,
  );
  const fallback = options.fallback;

  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      timeoutMs = timeoutMs === undefined || timeoutMs <= 0 ? undefined : Math.ceil(timeoutMs);
      let req: UnaryRequest;
      try {
        req = {
          stream: false,
          service: method.parent,
          method: method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          signal: signal ?? neverAborted,
          header: requestHeader(true, timeoutMs, header),
          contextValues: contextValues ?? createContextValues(),
          message: isMessage(input, method.input) ? input : create(method.input, input),
        };
      } catch (e) {
        return Promise.reject(ConnectError.from(e));
      }
      return chain(req).then<UnaryResponse<I, O>, never>(undefined, (e: unknown) => {
        // As Connect's runUnaryCall: the caller's abort wins, and whatever an
        // interceptor threw becomes a ConnectError.
        throw signal?.aborted === true ? ConnectError.from(getAbortSignalReason(signal), Code.Canceled) : ConnectError.from(e);
      });
    },

    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      if (fallback === undefined) {
        return Promise.reject(new ConnectError("h2-grpc transport: unary only", Code.Unimplemented));
      }
      return fallback.stream(method, signal, timeoutMs, header, input, contextValues);
    },

    close(): void {
      sessions.close();
    },
  };
}
