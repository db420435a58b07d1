import http from "node:http";
import http2 from "node:http2";
import { gunzipSync } from "node:zlib";
import type { FuzzRequest } from "./requests.js";

/** What came back, reduced to what the properties judge. */
export interface FuzzAnswer {
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The RPC code as a Connect code name ("invalid_argument"), for RPC answers that carried one. */
  readonly code: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** Why no answer arrived (connection reset, timeout), when status is 0. */
  readonly error?: string;
  /**
   * The client gave up after 20 s: no answer, or (HTTP/2) an answer whose
   * stream the server never closed, which holds the session's memory and,
   * enough of them, gets every stream of the session refused.
   */
  readonly timedOut?: boolean;
}

const grpcCodeNames = [
  "ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied",
  "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated",
];

/** Header values as node:http and node:http2 accept them: visible ASCII and spaces only. */
export function sendableHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace(/[^\u0020-\u007e]/gu, "?")]));
}

/** Keep-alive HTTP/1.1 to the gateway, at most `sockets` connections. */
export class Http1Sender {
  private readonly agent: http.Agent;
  constructor(private readonly baseUrl: string, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  send(method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<FuzzAnswer> {
    const url = new URL(this.baseUrl);
    return new Promise((resolve) => {
      let req: http.ClientRequest;
      try {
        req = http.request({ host: url.hostname, port: Number(url.port), method, path, headers: sendableHeaders(headers), agent: this.agent, timeout: 20_000 });
      } catch (err) {
        resolve({ status: -1, code: undefined, headers: {}, body: Buffer.alloc(0), error: `not sendable: ${(err as Error).message}` });
        return;
      }
      let timedOut = false;
      req.once("timeout", () => {
        timedOut = true;
        req.destroy(new Error("no answer within 20 s"));
      });
      req.once("error", (err) => resolve({ status: 0, code: undefined, headers: {}, body: Buffer.alloc(0), error: err.message, ...(timedOut ? { timedOut } : {}) }));
      req.once("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.once("error", (err) => resolve({ status: 0, code: undefined, headers: {}, body: Buffer.alloc(0), error: err.message }));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, code: undefined, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.end(method === "GET" || method === "HEAD" ? (body.length > 0 ? body : undefined) : body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One HTTP/2 session (TLS with `options`, or cleartext), opened again when it closes. */
export class Http2Sender {
  private session: http2.ClientHttp2Session | undefined;
  constructor(private readonly url: string, private readonly options: http2.SecureClientSessionOptions = {}) {}

  private current(): http2.ClientHttp2Session {
    if (this.session === undefined || this.session.closed || this.session.destroyed) {
      // Node counts a session's queued outgoing bytes against its
      // maxSessionMemory (10 MB by default) and, beyond it, refuses the
      // headers of every answer on the session with ENHANCE_YOUR_CALM: a 5
      // MiB body beside 31 other requests in flight did that here, which
      // looked like the server resetting streams. This client may hold more;
      // a reset the server sends is still seen as one.
      const session = http2.connect(this.url, { maxSessionMemory: 256, ...this.options });
      session.on("error", () => undefined);
      session.on("goaway", () => session.close());
      this.session = session;
    }
    return this.session;
  }

  send(path: string, headers: Record<string, string>, body: Buffer): Promise<FuzzAnswer> {
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.current().request({ ":method": "POST", ":path": path, ...sendableHeaders(headers) });
      } catch (err) {
        resolve({ status: 0, code: undefined, headers: {}, body: Buffer.alloc(0), error: (err as Error).message });
        return;
      }
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let failure: string | undefined;
      let timedOut = false;
      stream.setTimeout(20_000, () => {
        timedOut = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      stream.on("response", (h) => (responseHeaders = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => (failure = err.message));
      stream.on("close", () => {
        const status = Number(responseHeaders[":status"] ?? 0);
        const grpcStatus = trailers["grpc-status"] ?? responseHeaders["grpc-status"];
        resolve({
          status,
          code: grpcStatus === undefined ? undefined : (grpcCodeNames[Number(grpcStatus)] ?? `code ${String(grpcStatus)}`),
          headers: { ...responseHeaders, ...trailers },
          body: Buffer.concat(chunks),
          ...(status === 0 ? { error: failure ?? `stream closed with RST code ${stream.rstCode}` } : {}),
          ...(timedOut ? { timedOut } : {}),
        });
      });
      stream.end(body);
    });
  }

  close(): void {
    this.session?.close();
  }
}

/** The code of a Connect unary answer: from its JSON error body, "ok" on 200. */
export function connectCode(answer: FuzzAnswer): string | undefined {
  if (answer.status === 200) {
    return "ok";
  }
  try {
    const parsed = JSON.parse(answer.body.toString("utf8")) as { code?: unknown };
    return typeof parsed.code === "string" ? parsed.code : undefined;
  } catch {
    return undefined;
  }
}

/** The messages of a gRPC or gRPC-Web body (data frames only) and the gRPC-Web trailer frame's grpc-status. */
export function grpcFrames(body: Buffer): { messages: Buffer[]; trailerStatus: number | undefined } {
  const messages: Buffer[] = [];
  let trailerStatus: number | undefined;
  let at = 0;
  while (at + 5 <= body.length) {
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + length);
    if ((flags & 0x80) !== 0) {
      const m = /grpc-status:\s*(\d+)/i.exec(payload.toString("latin1"));
      if (m !== null) trailerStatus = Number(m[1]);
    } else {
      messages.push((flags & 1) !== 0 ? gunzipSync(payload) : payload);
    }
    at += 5 + length;
  }
  return { messages, trailerStatus };
}

/** The RPC code of a gRPC-Web answer: its headers' or its trailer frame's grpc-status. */
export function grpcWebCode(answer: FuzzAnswer): string | undefined {
  const header = answer.headers["grpc-status"];
  if (header !== undefined) {
    return grpcCodeNames[Number(header)];
  }
  const { trailerStatus } = grpcFrames(answer.body);
  return trailerStatus === undefined ? undefined : grpcCodeNames[trailerStatus];
}

export function describeRequest(request: FuzzRequest): string {
  return JSON.stringify(request);
}
