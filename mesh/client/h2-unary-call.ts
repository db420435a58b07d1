import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { getAbortSignalReason } from "@connectrpc/connect/protocol";
import { headerTimeout, parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { setMaxListeners } from "node:events";
import http2 from "node:http2";
import { encodeGrpcFrame } from "../wire/grpc-frame.js";
import { errorFromNodeReason, wasRefused } from "./h2-errors.js";
import { unaryOutcome, validateResponse } from "./h2-response.js";
import { connectFailedCode, type H2SessionPool } from "./h2-session-pool.js";

/** req.signal when the caller gave none: never aborts, shared by all calls. */
export const neverAborted = new AbortController().signal;
setMaxListeners(0, neverAborted);

/** Request headers Node derives itself, or that HTTP/2 forbids. */
const skippedHeaders = new Set(["connection", "host", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/**
 * One unary gRPC call on a stream of the pool's session: headers and the one
 * request frame out, the response frame and trailers back; the deadline,
 * the caller's abort and the stream's close settle it once.
 */
export function unaryCall(
  sessions: H2SessionPool,
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
    body = encodeGrpcFrame(toBinary(req.method.input, req.message));
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
      outcome = unaryOutcome(req.service, method, stream.rstCode, nodeError, responseHeaders, trailers, chunks ?? first);
    } catch (e) {
      outcome = ConnectError.from(e);
    }
    if (outcome instanceof ConnectError) {
      if (responseHeaders === undefined && !sessions.hasConnected(session) && !wasRefused(outcome)) {
        outcome = refusedBeforeConnect(outcome, sessions.authority);
      }
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

/**
 * A call that failed before its session connected (EHOSTUNREACH from a host
 * that is gone, a reset during the TLS handshake from a server that is
 * draining): nothing was sent, so it is Unavailable and refused, and the
 * balancer sends it to the next endpoint. The original error stays the cause.
 */
function refusedBeforeConnect(err: ConnectError, authority: string): ConnectError {
  const cause = Object.assign(new Error(`no connection to ${authority}: ${err.rawMessage}`), {
    code: connectFailedCode,
    cause: err.cause ?? err,
  });
  return new ConnectError(err.rawMessage, Code.Unavailable, err.metadata, undefined, cause);
}
