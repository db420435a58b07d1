import http2 from "node:http2";

/** What a server answered to one raw HTTP/2 request: headers, body bytes and trailers as sent. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  /** grpc-status from the trailers, or from the headers of a Trailers-Only answer. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
}

/**
 * Sends one POST over a fresh cleartext HTTP/2 connection, exactly these
 * headers and body bytes, with no timer of its own: whatever deadline the
 * headers carry is the server's to enforce. Resolves when the stream closes.
 */
export function rawHttp2Post(baseUrl: string, path: string, headers: http2.OutgoingHttpHeaders, body: Uint8Array): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, ...headers });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (responseHeaders = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      session.close();
      const from = trailers["grpc-status"] !== undefined ? trailers : responseHeaders;
      const status = from["grpc-status"];
      const message = from["grpc-message"];
      resolve({
        status: Number(responseHeaders[":status"] ?? 0),
        headers: responseHeaders,
        trailers,
        body: Buffer.concat(chunks),
        grpcStatus: status === undefined ? undefined : Number(status),
        grpcMessage: message === undefined ? undefined : decodeURIComponent(String(message)),
      });
    });
    stream.end(body);
  });
}

/** One gRPC length-prefixed frame: `flags`, then the length of `message` (or `length`, to lie about it), then `message`. */
export function grpcFrame(message: Uint8Array, flags = 0, length = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(length, 1);
  out.set(message, 5);
  return out;
}
