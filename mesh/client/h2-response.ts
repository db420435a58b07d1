import { fromBinary, type DescMessage, type DescMethodUnary, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryResponse } from "@connectrpc/connect";
import { codeFromHttpStatus, findTrailerError, parseContentType } from "@connectrpc/connect/protocol-grpc";
import http2 from "node:http2";
import type { RawHeaderSource } from "../context/raw-header.js";
import { errorFromNodeReason, errorFromResetCode } from "./h2-errors.js";
import { toWebHeaders } from "./web-headers.js";

/** The outcome of a stream that closed before the call settled otherwise. */
export function unaryOutcome(
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
export class H2UnaryResponse implements UnaryResponse, RawHeaderSource {
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
export function validateResponse(status: number, header: http2.IncomingHttpHeaders): ConnectError | undefined {
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
    return new ConnectError(`unsupported response encoding "${String(encoding)}"`, Code.Internal, toWebHeaders(header));
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
