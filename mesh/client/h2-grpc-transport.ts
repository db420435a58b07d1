import {
  create,
  fromBinary,
  isMessage,
  toBinary,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
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
import {
  codeFromHttpStatus,
  findTrailerError,
  headerTimeout,
  parseContentType,
  parseTimeout,
  requestHeader,
} from "@connectrpc/connect/protocol-grpc";
import http2 from "node:http2";
import { setMaxListeners } from "node:events";
import type { RawHeaderSource } from "../context/raw-header.js";

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
 */
export function createH2GrpcTransport(options: H2GrpcTransportOptions): H2GrpcTransport {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const sessions = new SessionPool(baseUrl);
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
          method: method as unknown as DescMethodUnary,
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
      return chain(req).then(undefined, (e: unknown) => {
        // As Connect's runUnaryCall: the caller's abort wins, and whatever an
        // interceptor threw becomes a ConnectError.
        throw signal?.aborted === true ? ConnectError.from(getAbortSignalReason(signal), Code.Canceled) : ConnectError.from(e);
      }) as Promise<UnaryResponse<I, O>>;
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

/** req.signal when the caller gave none: never aborts, shared by all calls. */
const neverAborted = new AbortController().signal;
setMaxListeners(0, neverAborted);

/** One live session at a time, plus those draining after GOAWAY or close. */
class SessionPool {
  closed = false;
  private current: http2.ClientHttp2Session | undefined;
  private readonly all = new Set<http2.ClientHttp2Session>();
  /** Open streams per session, to ref() the socket while there are any. */
  private readonly active = new WeakMap<http2.ClientHttp2Session, number>();

  constructor(private readonly authority: string) {}

  get(): http2.ClientHttp2Session {
    const existing = this.current;
    if (existing !== undefined && !existing.closed && !existing.destroyed) {
      return existing;
    }
    const session = http2.connect(this.authority);
    session.unref();
    this.current = session;
    this.all.add(session);
    this.active.set(session, 0);
    const retire = (): void => {
      if (this.current === session) {
        this.current = undefined;
      }
    };
    // Errors reach the streams too (a failed connect destroys them with it);
    // the session's own error only retires it.
    session.on("error", retire);
    session.on("goaway", retire);
    session.once("close", () => {
      retire();
      this.all.delete(session);
    });
    return session;
  }

  /** Counts an open stream on `session` (ref()'d while it has any). */
  opened(session: http2.ClientHttp2Session): void {
    const n = this.active.get(session) ?? 0;
    this.active.set(session, n + 1);
    if (n === 0) {
      session.ref();
    }
  }

  /** Counts a stream closed on `session` (unref()'d once it has none). */
  closedStream(session: http2.ClientHttp2Session): void {
    const n = (this.active.get(session) ?? 1) - 1;
    this.active.set(session, n);
    if (n === 0 && !session.destroyed) {
      session.unref();
    }
  }

  retire(session: http2.ClientHttp2Session): void {
    if (this.current === session) {
      this.current = undefined;
    }
  }

  close(): void {
    this.closed = true;
    this.current = undefined;
    for (const session of this.all) {
      // Graceful: calls in flight finish, then the session closes.
      session.close();
    }
  }
}

/** Request headers Node derives itself, or that HTTP/2 forbids. */
const skippedHeaders = new Set(["connection", "host", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

function unaryCall(
  sessions: SessionPool,
  path: string,
  req: UnaryRequest,
  resolve: (res: UnaryResponse) => void,
  reject: (err: ConnectError) => void,
): void {
  const signal = req.signal;
  if (signal.aborted) {
    reject(ConnectError.from(getAbortSignalReason(signal), Code.Canceled));
    return;
  }
  let timeoutMs: number | undefined;
  let body: Buffer;
  const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path };
  try {
    const timeout = req.header.get(headerTimeout);
    if (timeout !== null) {
      const parsed = parseTimeout(timeout, Number.MAX_SAFE_INTEGER);
      if (parsed.error !== undefined) {
        throw parsed.error;
      }
      timeoutMs = parsed.timeoutMs;
    }
    req.header.forEach((value, key) => {
      if (!skippedHeaders.has(key)) {
        headers[key] = value;
      }
    });
    body = frame(toBinary(req.method.input, req.message));
  } catch (e) {
    reject(ConnectError.from(e));
    return;
  }

  let session = sessions.get();
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers);
  } catch (e) {
    if (!session.closed && !session.destroyed) {
      // e.g. an invalid header value
      reject(errorFromNodeReason(e));
      return;
    }
    // The session went away between get() and request(): once more, on a new one.
    sessions.retire(session);
    try {
      session = sessions.get();
      stream = session.request(headers);
    } catch (e2) {
      reject(errorFromNodeReason(e2));
      return;
    }
  }
  sessions.opened(session);

  const method = req.method;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  let status = 0;
  let responseHeaders: http2.IncomingHttpHeaders | undefined;
  let trailers: http2.IncomingHttpHeaders | undefined;
  let nodeError: unknown;
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;

  const settle = (): void => {
    settled = true;
    if (timer !== undefined) {
      clearTimeout(timer);
    }
    if (signal !== neverAborted) {
      signal.removeEventListener("abort", onAbort);
    }
  };
  const fail = (err: ConnectError, rstCode: number): void => {
    if (settled) {
      return;
    }
    settle();
    if (!stream.closed && !stream.destroyed) {
      stream.close(rstCode);
    }
    reject(err);
  };
  const onAbort = (): void => fail(ConnectError.from(getAbortSignalReason(signal), Code.Canceled), http2.constants.NGHTTP2_CANCEL);
  if (signal !== neverAborted) {
    signal.addEventListener("abort", onAbort);
  }
  if (timeoutMs !== undefined) {
    timer = setTimeout(
      () => fail(new ConnectError("the operation timed out", Code.DeadlineExceeded), http2.constants.NGHTTP2_CANCEL),
      timeoutMs,
    );
  }

  stream.on("response", (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
    status = h[":status"] ?? 0;
    responseHeaders = h;
    const error = validateResponse(status, h);
    if (error !== undefined) {
      fail(error, http2.constants.NGHTTP2_CANCEL);
    }
  });
  stream.on("data", (chunk: Buffer) => {
    if (first === undefined) {
      first = chunk;
    } else {
      (chunks ??= [first]).push(chunk);
    }
  });
  stream.on("trailers", (t: http2.IncomingHttpHeaders) => {
    trailers = t;
  });
  stream.on("error", (e: unknown) => {
    nodeError ??= e;
  });
  stream.once("close", () => {
    sessions.closedStream(session);
    if (settled) {
      return;
    }
    settle();
    let outcome: UnaryResponse | ConnectError;
    try {
      outcome = finish(req.service, method, stream.rstCode, nodeError, responseHeaders, trailers, chunks ?? first);
    } catch (e) {
      outcome = ConnectError.from(e);
    }
    if (outcome instanceof ConnectError) {
      if (wasRefused(outcome)) {
        sessions.retire(session);
      }
      reject(outcome);
    } else {
      resolve(outcome);
    }
  });
  stream.end(body);
}

/** The outcome of a stream that closed before the call settled otherwise. */
function finish(
  service: DescService,
  method: DescMethodUnary,
  rstCode: number | undefined,
  nodeError: unknown,
  header: http2.IncomingHttpHeaders | undefined,
  trailer: http2.IncomingHttpHeaders | undefined,
  body: Buffer | Buffer[] | undefined,
): UnaryResponse | ConnectError {
  if (nodeError !== undefined) {
    return errorFromNodeReason(nodeError);
  }
  if (rstCode !== undefined && rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
    const reset = errorFromResetCode(rstCode);
    if (reset !== undefined) {
      return reset;
    }
  }
  if (header === undefined) {
    return new ConnectError("protocol error: stream closed without response headers", Code.Internal);
  }
  // In order as connect-node: the body, then the trailers, then the message.
  const message = parseBody(method, body);
  const trailerHeaders = trailer === undefined ? new Headers() : toWebHeaders(trailer);
  const trailerError = trailer === undefined ? undefined : findTrailerError(trailerHeaders);
  const trailersOnly = header["grpc-status"] !== undefined;
  if (trailerError !== undefined) {
    toWebHeaders(header).forEach((value, key) => trailerError.metadata.append(key, value));
    return trailerError;
  }
  if (!trailersOnly && trailer?.["grpc-status"] === undefined) {
    return new ConnectError("protocol error: missing status", Code.Internal);
  }
  const headerError = trailersOnly ? findTrailerError(toWebHeaders(header)) : undefined;
  if (message === undefined) {
    if (headerError !== undefined) {
      return headerError;
    }
    return new ConnectError(
      "protocol error: missing output message for unary method",
      trailerHeaders.has("grpc-status") ? Code.Unimplemented : Code.Unknown,
    );
  }
  if (headerError !== undefined) {
    return new ConnectError("protocol error: received output message for unary method with error status", Code.Unknown);
  }
  return new H2UnaryResponse(service, method, message, header, trailerHeaders);
}

/** The response, with its headers converted to Headers only if read. */
class H2UnaryResponse implements UnaryResponse, RawHeaderSource {
  readonly stream = false as const;
  private headerCache: Headers | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethodUnary,
    readonly message: MessageShape<DescMessage>,
    private readonly rawHeaders: http2.IncomingHttpHeaders,
    readonly trailer: Headers,
  ) {}

  get header(): Headers {
    return (this.headerCache ??= toWebHeaders(this.rawHeaders));
  }

  /**
   * One response header as the server sent it (the first value if repeated),
   * without building `header`: tracing reads content-type this way on every
   * call.
   */
  rawHeader(name: string): string | undefined {
    const value = this.rawHeaders[name];
    return Array.isArray(value) ? value[0] : value === undefined ? undefined : String(value);
  }
}

/** connect-node's validateResponse for gRPC, with the headers converted only on error. */
function validateResponse(status: number, header: http2.IncomingHttpHeaders): ConnectError | undefined {
  if (status !== 200) {
    return new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status), toWebHeaders(header));
  }
  const contentType = header["content-type"];
  if (contentType !== "application/grpc+proto" && contentType !== "application/grpc") {
    const parsed = parseContentType(contentType ?? null);
    if (parsed === undefined) {
      return new ConnectError(`unsupported content type ${contentType ?? null}`, Code.Unknown);
    }
    if (!parsed.binary) {
      return new ConnectError(`unsupported content type ${contentType}: h2-grpc transport reads binary only`, Code.Internal);
    }
  }
  const encoding = header["grpc-encoding"];
  if (encoding !== undefined && String(encoding).toLowerCase() !== "identity") {
    return new ConnectError(`unsupported response encoding "${encoding}"`, Code.Internal, toWebHeaders(header));
  }
  return undefined;
}

/** The one message in a unary response body; undefined if there is none. */
function parseBody(method: DescMethodUnary, body: Buffer | Buffer[] | undefined): MessageShape<DescMessage> | undefined {
  if (body === undefined) {
    return undefined;
  }
  const bytes = Array.isArray(body) ? Buffer.concat(body) : body;
  if (bytes.length === 0) {
    return undefined;
  }
  if (bytes.length < 5) {
    throw new ConnectError("protocol error: premature end of stream", Code.InvalidArgument);
  }
  const flags = bytes[0] ?? 0;
  const length = bytes.readUInt32BE(1);
  if (bytes.length < 5 + length) {
    throw new ConnectError("protocol error: premature end of stream", Code.InvalidArgument);
  }
  if (bytes.length > 5 + length) {
    throw new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented);
  }
  if ((flags & 0b01) === 0b01) {
    throw new ConnectError("protocol error: received compressed output without grpc-encoding", Code.Internal);
  }
  try {
    return fromBinary(method.output, bytes.subarray(5));
  } catch (e) {
    throw new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal);
  }
}

function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(message.length + 5);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** connect-node's nodeHeaderToWebHeader: pseudo-headers dropped, repeated fields appended. */
function toWebHeaders(node: http2.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const key in node) {
    const value = node[key] as string | string[] | number | undefined;
    if (key.startsWith(":") || value === undefined) {
      continue;
    }
    if (Array.isArray(value)) {
      for (const v of value) {
        headers.append(key, v);
      }
    } else {
      headers.append(key, String(value));
    }
  }
  return headers;
}

/**
 * connect-node's mapping of Node errors (connectErrorFromNodeReason), the
 * Node error kept as `cause`; a refused stream is Unavailable here (see
 * createH2GrpcTransport).
 */
function errorFromNodeReason(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) {
    return reason;
  }
  // A stream opened while the session was connecting is cancelled with the
  // session's error as cause; connect-node, which waits for the connection
  // before opening a stream, reports that error itself.
  if ((reason as NodeJS.ErrnoException | undefined)?.code === "ERR_HTTP2_STREAM_CANCEL" && (reason as Error).cause instanceof Error) {
    reason = (reason as Error).cause;
  }
  let code = Code.Internal;
  const seen = new Set<unknown>();
  for (let e: unknown = reason; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const nodeCode = (e as NodeJS.ErrnoException).code;
    if (nodeCode === "ERR_STREAM_WRITE_AFTER_END" || nodeCode === "ERR_STREAM_DESTROYED" || nodeCode === "ERR_HTTP2_INVALID_STREAM" || nodeCode === "ECONNRESET") {
      code = Code.Aborted;
      break;
    }
    if (nodeCode === "ETIMEDOUT" || nodeCode === "ENOTFOUND" || nodeCode === "EAI_AGAIN" || nodeCode === "ECONNREFUSED") {
      code = Code.Unavailable;
      break;
    }
    if (
      nodeCode === "ERR_HTTP2_GOAWAY_SESSION" ||
      nodeCode === "ERR_HTTP2_INVALID_SESSION" ||
      (nodeCode === "ERR_HTTP2_STREAM_ERROR" && e.message.includes("NGHTTP2_REFUSED_STREAM"))
    ) {
      code = Code.Unavailable;
      break;
    }
  }
  const error = ConnectError.from(reason, code);
  if (error !== reason) {
    error.cause = reason;
  }
  return error;
}

/** connect-node's connectErrorFromH2ResetCode. */
function errorFromResetCode(rstCode: number): ConnectError | undefined {
  const c = http2.constants;
  let code: Code;
  switch (rstCode) {
    case c.NGHTTP2_PROTOCOL_ERROR:
    case c.NGHTTP2_INTERNAL_ERROR:
    case c.NGHTTP2_FLOW_CONTROL_ERROR:
    case c.NGHTTP2_SETTINGS_TIMEOUT:
    case c.NGHTTP2_FRAME_SIZE_ERROR:
    case c.NGHTTP2_COMPRESSION_ERROR:
    case c.NGHTTP2_CONNECT_ERROR:
      code = Code.Internal;
      break;
    case c.NGHTTP2_REFUSED_STREAM:
      code = Code.Unavailable;
      break;
    case c.NGHTTP2_CANCEL:
      code = Code.Canceled;
      break;
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      code = Code.ResourceExhausted;
      break;
    case c.NGHTTP2_INADEQUATE_SECURITY:
    case c.NGHTTP2_HTTP_1_1_REQUIRED:
      code = Code.PermissionDenied;
      break;
    default:
      return undefined;
  }
  return new ConnectError(`http/2 stream closed with error code ${h2CodeNames[rstCode] ?? rstCode} (0x${rstCode.toString(16)})`, code);
}

const h2CodeNames: Record<number, string> = {
  1: "PROTOCOL_ERROR",
  2: "INTERNAL_ERROR",
  3: "FLOW_CONTROL_ERROR",
  4: "SETTINGS_TIMEOUT",
  5: "STREAM_CLOSED",
  6: "FRAME_SIZE_ERROR",
  7: "REFUSED_STREAM",
  8: "CANCEL",
  9: "COMPRESSION_ERROR",
  10: "CONNECT_ERROR",
  11: "ENHANCE_YOUR_CALM",
  12: "INADEQUATE_SECURITY",
  13: "HTTP_1_1_REQUIRED",
};

/** A failure that means the session should not take new calls. */
function wasRefused(error: ConnectError): boolean {
  if (error.code !== Code.Unavailable) {
    return false;
  }
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  return cause?.code === "ECONNREFUSED" || cause?.code === "ERR_HTTP2_GOAWAY_SESSION" || cause?.code === "ERR_HTTP2_STREAM_ERROR";
}
