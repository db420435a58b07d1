import { create, fromBinary, isMessage, toBinary, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { firstHeader } from "../context/raw-header.js";
import { encodeGrpcFrame } from "../wire/grpc-frame.js";
import { peerOfSocket } from "../identity/peer.js";
import { GrpcHandlerContext } from "./grpc-handler-context.js";
import type { UnaryCall } from "./unary-call.js";
import { wellFormedError } from "./well-formed-error.js";

/** A unary method reachable on the fast path, with its interceptor chain applied. */
export interface FastUnaryRoute {
  readonly service: DescService;
  readonly method: DescMethodUnary;
  readonly call: UnaryCall;
}

export interface GrpcUnaryFastPathOptions {
  /** Largest request message accepted, in bytes. Larger: ResourceExhausted. */
  readonly readMaxBytes: number;
  /** Longest deadline a client may ask for, in ms. Longer: InvalidArgument. */
  readonly maxTimeoutMs: number;
  /** Aborts every call in flight when the server gives up on its grace period. */
  readonly shutdownSignal: AbortSignal;
}

/**
 * Serves unary gRPC calls straight off the HTTP/2 request, without Connect's
 * streaming pipeline. connect-node runs even a unary gRPC call through async
 * generators (457 µs of server CPU per call against 97 µs for a grpc-js
 * Server and 96 µs for this path: bench/RESULTS.md, bench/grpc-serving.ts,
 * rows (b), (c) and (a)); a unary call needs one buffered request frame and
 * one response frame plus trailers, which is all this does.
 *
 * It takes only what it fully supports: HTTP/2, content-type application/grpc
 * or application/grpc+proto, no request compression, and a unary method. It
 * returns false for anything else, which connect-node then serves (gRPC with
 * JSON or compression, streaming, gRPC-Web, Connect).
 */
export function createGrpcUnaryFastPath(
  routes: ReadonlyMap<string, FastUnaryRoute>,
  options: GrpcUnaryFastPathOptions,
): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean {
  const active = new Set<() => void>();
  options.shutdownSignal.addEventListener("abort", () => active.forEach((stop) => stop()), { once: true });
  return (stream, headers) => {
    if (headers[":method"] !== "POST") {
      return false;
    }
    const contentType = headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") {
      return false;
    }
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") {
      return false;
    }
    const path = headers[":path"];
    const route = path === undefined ? undefined : routes.get(path);
    if (route === undefined || path === undefined) {
      return false;
    }
    serveCall(route, path, stream, headers, options, active);
    return true;
  };
}

function serveCall(
  route: FastUnaryRoute,
  path: string,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options: GrpcUnaryFastPathOptions,
  active: Set<() => void>,
): void {
  const timeout = parseTimeout(firstHeader(headers["grpc-timeout"]) ?? null, options.maxTimeoutMs);
  const deadline = timeout.timeoutMs === undefined ? undefined : Date.now() + timeout.timeoutMs;
  const socket = stream.session?.socket;
  const context = new GrpcHandlerContext(route.service, route.method, path, headers, deadline, socket?.remoteAddress, peerOfSocket(socket));
  let finished = false;
  let timer: NodeJS.Timeout | undefined;

  const finish = (body: Uint8Array | undefined, error: ConnectError | undefined): void => {
    if (finished) {
      return;
    }
    finished = true;
    if (timer !== undefined) {
      clearTimeout(timer);
    }
    active.delete(onShutdown);
    if (stream.destroyed || stream.closed) {
      return;
    }
    const responseHeaders: OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc+proto" };
    copyHeaders(context.responseHeaderIfSet, responseHeaders);
    let trailers = okTrailers;
    if (error !== undefined || context.responseTrailerIfSet !== undefined) {
      trailers = {};
      copyHeaders(setTrailerStatus(new Headers(context.responseTrailerIfSet ?? {}), error), trailers);
    }
    if (body === undefined) {
      // Trailers-Only: status in the one HEADERS frame.
      stream.respond({ ...responseHeaders, ...trailers }, { endStream: true });
      return;
    }
    stream.respond(responseHeaders, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    stream.end(body);
  };
  const fail = (err: unknown): void => {
    const error = wellFormedError(ConnectError.from(err));
    context.abort(error);
    finish(undefined, error);
  };
  const onShutdown = (): void => fail(new ConnectError("server is shutting down", Code.Unavailable));

  if (timeout.error !== undefined) {
    stream.resume();
    fail(timeout.error);
    return;
  }
  if (deadline !== undefined) {
    timer = setTimeout(() => fail(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeout.timeoutMs);
  }
  active.add(onShutdown);
  // A reset stream emits "error"; "close" below handles it as a cancellation.
  stream.on("error", () => undefined);
  stream.once("close", () => {
    if (!finished) {
      finished = true;
      if (timer !== undefined) {
        clearTimeout(timer);
      }
      active.delete(onShutdown);
      context.abort(new ConnectError("the client cancelled the call", Code.Canceled));
    }
  });

  const chunks: Buffer[] = [];
  let received = 0;
  stream.on("data", (chunk: Buffer) => {
    if (finished) {
      return;
    }
    received += chunk.length;
    // A frame header declaring more than the limit is refused as soon as it
    // arrives, as connect-node refuses it, rather than after the body.
    const declared = received >= 5 && received - chunk.length < 5 ? declaredLength(chunks, chunk) : 0;
    if (declared > options.readMaxBytes) {
      fail(new ConnectError(`message size ${declared} is larger than configured readMaxBytes ${options.readMaxBytes}`, Code.ResourceExhausted));
      return;
    }
    if (received > options.readMaxBytes + 5) {
      // Answered at once, and the rest is read and dropped, not paused: bytes
      // left unread keep their stream open (the client never sees it close)
      // and count against the session's memory until nghttp2 refuses every
      // stream of the session with ENHANCE_YOUR_CALM.
      fail(new ConnectError(`message larger than ${options.readMaxBytes} bytes`, Code.ResourceExhausted));
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => {
    if (finished) {
      return;
    }
    let request;
    try {
      request = fromBinary(route.method.input, unwrapSingleFrame(Buffer.concat(chunks, received)));
    } catch (err) {
      // A message that does not parse is the client's error, as on the
      // connect-node path (mesh-node-adapter.ts).
      fail(err instanceof ConnectError ? err : new ConnectError(`parse binary: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument));
      return;
    }
    route.call(request, context).then(
      (response) => {
        const message = isMessage(response, route.method.output) ? response : create(route.method.output, response);
        finish(encodeGrpcFrame(toBinary(route.method.output, message)), undefined);
      },
      fail,
    );
  });
}

const okTrailers: OutgoingHttpHeaders = { "grpc-status": "0" };

/** The length the first frame header declares, once `chunk` completes its five bytes after `before`. */
function declaredLength(before: readonly Buffer[], chunk: Buffer): number {
  const head = Buffer.concat([...before, chunk.subarray(0, 5)]).subarray(0, 5);
  return head.readUInt32BE(1);
}

/**
 * The message of a body holding exactly one uncompressed gRPC frame, refused
 * with the codes connect-node gives for the same bytes (grpc-edge-cases.test.ts):
 * no frame at all Unimplemented; a frame cut short, or bytes after the frame
 * that are not a whole frame, InvalidArgument; a whole second frame
 * Unimplemented; the compressed flag without grpc-encoding InvalidArgument
 * (the client's bytes are wrong, mesh-node-adapter.ts).
 */
function unwrapSingleFrame(body: Buffer): Uint8Array {
  if (body.length === 0) {
    throw new ConnectError("protocol error: missing request message", Code.Unimplemented);
  }
  const end = frameEnd(body, 0);
  if (body[0] !== 0) {
    throw new ConnectError("protocol error: compressed message without grpc-encoding", Code.InvalidArgument);
  }
  if (end !== body.length) {
    frameEnd(body, end);
    throw new ConnectError("protocol error: a unary request needs exactly one message", Code.Unimplemented);
  }
  return body.subarray(5, end);
}

/** Where the frame starting at `start` ends; InvalidArgument when the body stops before. */
function frameEnd(body: Buffer, start: number): number {
  if (body.length - start < 5 || body.length - start - 5 < body.readUInt32BE(start + 1)) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  return start + 5 + body.readUInt32BE(start + 1);
}

function copyHeaders(from: Headers | undefined, to: OutgoingHttpHeaders): void {
  from?.forEach((value, name) => {
    to[name] = value;
  });
}
