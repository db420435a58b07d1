import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type ContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import {
  findTrailerError,
  headerGrpcMessage,
  headerGrpcStatus,
  headerTimeout,
  parseTimeout,
  requestHeader,
} from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";

export interface GrpcJsTransportOptions {
  /** The target's "host:port", e.g. "127.0.0.1:50051". */
  readonly address: string;
  /** How the channel is secured (e.g. mTLS, client-tls.ts). Default: cleartext HTTP/2. */
  readonly credentials?: grpc.ChannelCredentials;
  /** Client interceptors for every call, outermost first (Connect's order). */
  readonly interceptors?: readonly Interceptor[];
  /** Passed to the grpc-js channel as they are. Default: none. */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** A Connect transport that owns a grpc-js channel; close it on shutdown. */
export type GrpcJsTransport = Transport & { close(): void };

/**
 * A Connect transport over one @grpc/grpc-js channel, for unary and
 * server-streaming methods; client and bidi streaming fail with Unimplemented.
 *
 * It behaves as connect-node's `createGrpcTransport` does: the request goes
 * through `runUnaryCall`/`runStreamingCall` (interceptors, signal, timeout),
 * with the same request headers (content-type, grpc-timeout) for interceptors
 * to read and change; a grpc-timeout header on the request, set by the caller's
 * timeout or by an interceptor, becomes the grpc-js deadline; an error is built
 * by Connect's own `findTrailerError` from the trailers, so code, message,
 * details and metadata come out as connect-node would give them.
 *
 * grpc-js owns the wire: it sends its own user-agent, content-type and te, and
 * negotiates compression itself, so those request headers are not forwarded.
 */
export function createGrpcJsTransport(options: GrpcJsTransportOptions): GrpcJsTransport {
  const client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions ?? {});
  const baseUrl = `${options.credentials === undefined ? "http" : "https"}://${options.address}`;
  const interceptors = [...(options.interceptors ?? [])];

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      timeoutMs = timeoutMs !== undefined && timeoutMs <= 0 ? undefined : timeoutMs;
      return await runUnaryCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: requestHeader(true, timeoutMs, header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) =>
          new Promise((resolve, reject) => {
            const { metadata, deadline } = outbound(req.header);
            if (req.signal.aborted) {
              reject(req.signal.reason);
              return;
            }
            let responseHeader: Headers | undefined;
            let response: MessageShape<O> | undefined;
            const call = client.makeUnaryRequest<MessageShape<I>, MessageShape<O>>(
              grpcPath(method),
              (message) => asBuffer(toBinary(method.input, message)),
              (bytes) => fromBinary(method.output, bytes),
              req.message,
              metadata,
              { deadline },
              (_err, value) => {
                // The outcome is taken from the status event that follows; the
                // error here is the same status.
                response = value;
              },
            );
            const onAbort = (): void => call.cancel();
            req.signal.addEventListener("abort", onAbort);
            call.on("metadata", (md: grpc.Metadata) => (responseHeader = toHeaders(md)));
            call.on("status", (status: grpc.StatusObject) => {
              req.signal.removeEventListener("abort", onAbort);
              if (status.code !== grpc.status.OK) {
                reject(errorFromStatus(status, responseHeader, deadline));
                return;
              }
              if (response === undefined) {
                reject(new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented));
                return;
              }
              resolve({
                stream: false,
                service: method.parent,
                method,
                header: responseHeader ?? new Headers(),
                message: response,
                trailer: trailerOf(status),
              });
            });
          }),
      });
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      if (method.methodKind !== "server_streaming") {
        throw new ConnectError(
          `${method.parent.typeName}.${method.name} is ${method.methodKind.replace("_", " ")}: the grpc-js transport does unary and server streaming only`,
          Code.Unimplemented,
        );
      }
      timeoutMs = timeoutMs !== undefined && timeoutMs <= 0 ? undefined : timeoutMs;
      return await runStreamingCall<I, O>({
        interceptors,
        signal,
        timeoutMs,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: requestHeader(true, timeoutMs, header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: async (req) => {
          const { metadata, deadline } = outbound(req.header);
          const request = await singleMessage(req.message);
          if (req.signal.aborted) {
            throw req.signal.reason;
          }
          const call = client.makeServerStreamRequest<MessageShape<I>, MessageShape<O>>(
            grpcPath(method),
            (message) => asBuffer(toBinary(method.input, message)),
            (bytes) => fromBinary(method.output, bytes),
            request,
            metadata,
            { deadline },
          );
          const onAbort = (): void => call.cancel();
          req.signal.addEventListener("abort", onAbort);
          // A failed call emits "error" besides "status"; the status is what
          // is read, but an "error" without a listener would throw.
          call.on("error", () => undefined);
          const status = new Promise<grpc.StatusObject>((resolve) =>
            call.once("status", (s: grpc.StatusObject) => {
              req.signal.removeEventListener("abort", onAbort);
              resolve(s);
            }),
          );
          // As connect-node, answer once the response headers are in, or fail
          // here if the call ends before them (trailers-only or no connection).
          const responseHeader = await Promise.race([
            new Promise<Headers>((resolve) => call.once("metadata", (md: grpc.Metadata) => resolve(toHeaders(md)))),
            status.then((s) => {
              if (s.code !== grpc.status.OK) {
                throw errorFromStatus(s, undefined, deadline);
              }
              return new Headers();
            }),
          ]);
          const trailer = new Headers();
          async function* messages(): AsyncGenerator<MessageShape<O>> {
            let failed: { error: unknown } | undefined;
            try {
              for await (const message of call) {
                yield message as MessageShape<O>;
              }
            } catch (error) {
              failed = { error };
            }
            const end = await status;
            if (end.code !== grpc.status.OK) {
              throw errorFromStatus(end, responseHeader, deadline);
            }
            if (failed !== undefined) {
              throw ConnectError.from(failed.error);
            }
            trailerOf(end).forEach((value, key) => trailer.append(key, value));
          }
          return { ...req, header: responseHeader, trailer, message: messages() };
        },
      });
    },

    close(): void {
      client.close();
    },
  };
}

function grpcPath(method: DescMethodUnary | DescMethodStreaming): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** grpc-js wants Buffers; this one shares the bytes instead of copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Headers grpc-js sets from its own state, never from metadata: the deadline
 * becomes grpc-timeout, and it negotiates compression itself.
 */
const notForwarded = new Set(["content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding"]);

/** The request headers as grpc-js metadata, and their grpc-timeout as its deadline. */
function outbound(header: Headers): { metadata: grpc.Metadata; deadline: number | undefined } {
  const metadata = new grpc.Metadata();
  header.forEach((value, key) => {
    if (notForwarded.has(key)) {
      return;
    }
    if (key.endsWith("-bin")) {
      // Headers joins repeated fields with ", "; base64 has no commas.
      for (const part of value.split(",")) {
        metadata.add(key, Buffer.from(decodeBinaryHeader(part.trim())));
      }
    } else {
      metadata.add(key, value);
    }
  });
  const timeout = parseTimeout(header.get(headerTimeout), Number.MAX_SAFE_INTEGER);
  if (timeout.error !== undefined) {
    throw timeout.error;
  }
  return {
    metadata,
    deadline: timeout.timeoutMs === undefined ? undefined : Date.now() + timeout.timeoutMs,
  };
}

/** grpc-js metadata as Headers; binary values base64-encoded as Connect encodes them. */
function toHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) {
      headers.append(key, typeof value === "string" ? value : encodeBinaryHeader(value));
    }
  }
  return headers;
}

/**
 * The trailers as they were on the wire: grpc-js takes grpc-status and
 * grpc-message out of the metadata (and percent-decodes the message with
 * decodeURI), so they are put back, re-encoded as Connect servers encode them.
 */
function trailerOf(status: grpc.StatusObject): Headers {
  const trailer = toHeaders(status.metadata);
  trailer.set(headerGrpcStatus, String(status.code));
  if (status.code !== grpc.status.OK) {
    trailer.set(headerGrpcMessage, encodeURIComponent(undoDecodeUri(status.details)));
  }
  return trailer;
}

/**
 * The ConnectError connect-node raises for this status. A status grpc-js made
 * up itself (no connection, the deadline passed, the call was cancelled) has
 * no trailers; it gets no metadata, as connect-node's errors for those have
 * none, and a deadline grpc-js enforced gets the message of Connect's own.
 * (A cancellation by the caller never gets here: `runUnaryCall` and
 * `runStreamingCall` report the signal's reason instead.)
 */
function errorFromStatus(status: grpc.StatusObject, header: Headers | undefined, deadline: number | undefined): ConnectError {
  const noTrailers = Object.keys(status.metadata.getMap()).length === 0;
  const deadlinePassed =
    status.code === grpc.status.DEADLINE_EXCEEDED && deadline !== undefined && Date.now() >= deadline;
  if (noTrailers && (header === undefined || deadlinePassed)) {
    const message = status.code === grpc.status.DEADLINE_EXCEEDED ? "the operation timed out" : status.details;
    return new ConnectError(message, codeOf(status.code));
  }
  const error =
    findTrailerError(trailerOf(status)) ?? new ConnectError("protocol error: missing status", Code.Internal);
  header?.forEach((value, key) => error.metadata.append(key, value));
  return error;
}

/** gRPC status codes and Connect codes share their numbers; anything else is Unknown. */
function codeOf(code: grpc.status): Code {
  return code in Code && code !== grpc.status.OK ? (code as number) : Code.Unknown;
}

/**
 * grpc-js decodes grpc-message with decodeURI, which leaves the escapes of
 * reserved characters (";/?:@&=+$,#") as they are; decode those too. (A
 * message that literally contained such an escape cannot be told apart.)
 */
function undoDecodeUri(details: string): string {
  return details.replace(/%(3B|2F|3F|3A|40|26|3D|2B|24|2C|23)/gi, (escape) => decodeURIComponent(escape));
}

/** The one request of a server-streaming call. */
async function singleMessage<T>(messages: AsyncIterable<T>): Promise<T> {
  let first: { value: T } | undefined;
  for await (const message of messages) {
    if (first !== undefined) {
      throw new ConnectError("protocol error: server streaming method takes exactly one request message", Code.InvalidArgument);
    }
    first = { value: message };
  }
  if (first === undefined) {
    throw new ConnectError("protocol error: missing request message for server streaming method", Code.InvalidArgument);
  }
  return first.value;
}
