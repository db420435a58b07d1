import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { uResponseNotFound, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { wellFormedError } from "./well-formed-error.js";

/** Whether a call got past reading its request: set by `readRequest`, read by the adapter. */
const requestRead = createContextKey<{ done: boolean }>({ done: true }, { description: "request read" });

/**
 * connect-node's adapter (`connectNodeAdapter`, the same options), except that
 * a request whose bytes cannot be read is the client's error: InvalidArgument,
 * never Internal.
 *
 * connect-node answers Internal for a request message that does not parse
 * ("parse binary: ...", its serialization is shared with clients, for which a
 * response that does not parse is the server's fault), for the compressed
 * flag without a usable grpc-encoding, and for a compressed payload zlib
 * cannot finish. Each is bad input, which docs/architecture.md (Error model) says is
 * InvalidArgument; connect-go answers the same bytes InvalidArgument
 * ("unmarshal", "decompress"). An encoding the server does not support stays
 * Unimplemented (gRPC's compression.md), as connect-node answers it.
 *
 * Those errors are raised before any interceptor runs (unary) or while the
 * handler reads its input (streaming). For streams, the outermost interceptor
 * turns Internal from reading the input into InvalidArgument. For unary
 * calls, a call that failed Internal before that interceptor ran failed on its
 * request: its answer (Connect's JSON error, gRPC's trailers, gRPC-Web's
 * trailer frame) is rewritten to InvalidArgument. Internal from a handler, an
 * interceptor or an upstream is left as it is.
 *
 * A deadline further away than a Node timer reaches (2^31-1 ms, about 24.8
 * days; gRPC allows 99,999,999 hours) is lowered to that: connect-node would
 * set its timer anyway, which Node then fires after 1 ms, so the call failed
 * DeadlineExceeded at once. A server that refuses long deadlines
 * (`maxTimeoutMs`) still refuses it.
 *
 * A call connect-node fails to answer at all (its handler threw while writing
 * the error, see wellFormedError) is answered here rather than left open:
 * InvalidArgument before the request was read, Internal after; a call whose
 * headers are already out is reset.
 */
export function meshNodeAdapter(
  options: ConnectNodeAdapterOptions,
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  const router = createConnectRouter({
    ...options,
    acceptCompression: options.acceptCompression ?? [compressionGzip, compressionBrotli],
    interceptors: [readRequest, ...(options.interceptors ?? [])],
  });
  options.routes(router);
  const prefix = options.requestPathPrefix ?? "";
  const paths = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) {
    paths.set(prefix + handler.requestPath, handler);
  }
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (handler === undefined) {
      if (options.fallback !== undefined) {
        options.fallback(req, res);
      } else {
        res.writeHead(uResponseNotFound.status);
        res.end();
      }
      return;
    }
    const read = { done: false };
    const values = (options.contextValues?.(req) ?? createContextValues()).set(requestRead, read);
    const contentType = String(req.headers["content-type"] ?? "");
    const request = universalRequestFromNodeRequest(req, res, undefined, values);
    if ("stream" in req) {
      request.body = readThenDrain(req);
    }
    lowerLongDeadline(request.header);
    handler(request)
      .then((answer) => (read.done || handler.method.methodKind !== "unary" ? answer : asRequestError(answer, contentType)))
      .then((answer) => universalResponseToNodeResponse(answer, res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) {
          return;
        }
        if (read.done) {
          console.error(`handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`, reason);
        }
        answerFailure(res, contentType, read.done ? new ConnectError("internal error", Code.Internal) : new ConnectError("the request could not be read", Code.InvalidArgument));
      });
  };
}

/**
 * An HTTP/2 request's body as connect-node reads it, except that a reader
 * that stops early (connect-node refused the request: a message over
 * readMaxBytes, a bad envelope, a body that does not decompress) leaves the
 * rest to be read and dropped instead of destroying the request.
 *
 * connect-node iterates the request and returns early, which destroys Node's
 * compat request; the compat layer then pauses the stream under it for good.
 * The answer went out, but the stream's readable side never ends, so the
 * stream never closes (the client waits for its own timeout with the answer
 * in hand), and its unread bytes count against the session's memory until
 * nghttp2 refuses every new stream of the session with ENHANCE_YOUR_CALM.
 * The gRPC fast path drains the same way (grpc-unary-fast-path.ts). HTTP/1.1
 * is left as connect-node does it (destroying the request closes the
 * connection, which stops the client).
 */
async function* readThenDrain(req: Http2ServerRequest): AsyncGenerator<Uint8Array> {
  let ended = false;
  try {
    for await (const chunk of req.iterator({ destroyOnReturn: false })) {
      yield chunk as Uint8Array;
    }
    ended = true;
  } finally {
    if (!ended && !req.destroyed) {
      req.on("data", () => undefined);
      req.resume();
    }
  }
}

/** The longest delay setTimeout takes; a longer one fires after 1 ms. */
const longestTimerMs = 2 ** 31 - 1;

/** Lowers a grpc-timeout or connect-timeout-ms longer than a timer can wait to the longest it can. */
function lowerLongDeadline(header: Headers): void {
  const grpcTimeout = header.get("grpc-timeout");
  if (grpcTimeout !== null) {
    const timeout = parseTimeout(grpcTimeout, Number.MAX_SAFE_INTEGER);
    if (timeout.error === undefined && timeout.timeoutMs !== undefined && timeout.timeoutMs > longestTimerMs) {
      header.set("grpc-timeout", `${Math.floor(longestTimerMs / 1000)}S`);
    }
  }
  const connectTimeout = header.get("connect-timeout-ms");
  if (connectTimeout !== null && /^\d{1,10}$/.test(connectTimeout) && Number(connectTimeout) > longestTimerMs) {
    header.set("connect-timeout-ms", String(longestTimerMs));
  }
}

/** A trailers-only gRPC or gRPC-Web answer, or Connect's JSON error, for a call connect-node left unanswered. */
function answerFailure(res: ServerResponse | Http2ServerResponse, contentType: string, error: ConnectError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (contentType.startsWith("application/grpc")) {
    const trailer = new Headers();
    setTrailerStatus(trailer, error);
    const headers: Record<string, string | number> = { "content-type": contentType.split(";")[0]!, "content-length": 0 };
    trailer.forEach((value, name) => {
      headers[name] = value;
    });
    res.writeHead(200, headers);
    res.end();
    return;
  }
  const body = JSON.stringify(errorToJson(error, undefined));
  res.writeHead(codeToHttpStatus(error.code), { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The outermost interceptor: marks the request read; a stream's input errors are the client's. */
const readRequest: Interceptor = (next) => (req) => {
  req.contextValues.get(requestRead).done = true;
  return req.stream ? next({ ...req, message: clientErrors(req.message) }) : next(req);
};

async function* clientErrors<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw invalidArgument(err);
  }
}

function invalidArgument(err: unknown): ConnectError {
  const error = wellFormedError(ConnectError.from(err));
  return error.code === Code.Internal ? new ConnectError(error.rawMessage, Code.InvalidArgument, error.metadata, undefined, error) : error;
}

const internal = String(Code.Internal);
const invalid = String(Code.InvalidArgument);

/** A unary answer given before the request was read, with Internal made InvalidArgument, in the request's protocol. */
async function asRequestError(answer: UniversalServerResponse, contentType: string): Promise<UniversalServerResponse> {
  if (contentType.startsWith("application/grpc-web")) {
    return answer.body === undefined ? answer : { ...answer, body: mapChunks(answer.body, grpcWebTrailer) };
  }
  if (contentType.startsWith("application/grpc")) {
    const trailer = answer.trailer;
    if (trailer === undefined) {
      return answer;
    }
    const fix = (): void => {
      if (trailer.get("grpc-status") === internal) {
        trailer.set("grpc-status", invalid);
      }
    };
    fix();
    return answer.body === undefined ? answer : { ...answer, body: mapChunks(answer.body, (chunk) => chunk, fix) };
  }
  if (answer.status !== codeToHttpStatus(Code.Internal) || answer.body === undefined) {
    return answer;
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of answer.body) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  let json: { code?: unknown } | undefined;
  try {
    json = JSON.parse(text) as { code?: unknown };
  } catch {
    json = undefined;
  }
  if (json?.code !== "internal") {
    return { ...answer, body: once(Buffer.from(text, "utf8")) };
  }
  answer.header?.delete("content-length");
  return { ...answer, status: codeToHttpStatus(Code.InvalidArgument), body: once(Buffer.from(JSON.stringify({ ...json, code: "invalid_argument" }), "utf8")) };
}

async function* once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}

async function* mapChunks(body: AsyncIterable<Uint8Array>, map: (chunk: Uint8Array) => Uint8Array, atEnd?: () => void): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    yield map(chunk);
  }
  atEnd?.();
}

/** gRPC-Web's trailer frame (flag 0x80, uncompressed: too small to compress) with grpc-status 13 made 3. */
function grpcWebTrailer(chunk: Uint8Array): Uint8Array {
  const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (bytes.length < 5 || bytes[0] !== 0x80 || bytes.readUInt32BE(1) !== bytes.length - 5) {
    return chunk;
  }
  const text = bytes.subarray(5).toString("latin1");
  const fixed = text.replace(/^grpc-status: *13\r$/m, `grpc-status: ${invalid}\r`);
  if (fixed === text) {
    return chunk;
  }
  const data = Buffer.from(fixed, "latin1");
  const out = Buffer.alloc(5 + data.length);
  out[0] = 0x80;
  out.writeUInt32BE(data.length, 1);
  data.copy(out, 5);
  return out;
}
