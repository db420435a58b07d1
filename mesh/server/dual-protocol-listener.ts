import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type RequestListener = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface DualProtocolListenerOptions {
  /**
   * Takes an HTTP/2 stream before Node builds its request/response objects,
   * e.g. for a fast path; returns false to let `listener` have it.
   */
  readonly takeStream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
  /** The largest HTTP/1.1 header block accepted. Default: Node's (16 KiB). */
  readonly maxHeaderBytes?: number;
}

/**
 * One TCP port that speaks cleartext HTTP/2 (prior knowledge, as gRPC clients
 * use) and HTTP/1.1 (curl, browsers' Connect and gRPC-Web calls, wrk). Node's
 * h2c server refuses HTTP/1.1, so each new connection is sorted by its first
 * bytes: the HTTP/2 connection preface starts with "PRI", no HTTP/1.1 method
 * does.
 */
export class DualProtocolListener {
  readonly http2Server: http2.Http2Server;
  readonly http1Server: http.Server;
  private readonly tcp: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /**
   * HTTP/1.1 connections and how many requests each is serving. Node's own
   * idle tracking (closeIdleConnections) is set up only by a server that
   * listens itself, which http1Server never does, so drain() uses this.
   */
  private readonly http1Requests = new Map<net.Socket, Set<http.ServerResponse>>();
  private draining = false;

  constructor(listener: RequestListener, options: DualProtocolListenerOptions = {}) {
    const takeStream = options.takeStream ?? (() => false);
    // Streams that takeStream declines get Node's compatibility API from a
    // server that never listens: emitting "stream" on it builds req and res.
    const compat = http2.createServer({}, listener);
    this.http2Server = http2.createServer({});
    this.http2Server.on(
      "stream",
      (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
        if (!takeStream(stream, headers)) {
          compat.emit("stream", stream, headers, flags, rawHeaders);
        }
      },
    );
    this.http1Server = http.createServer(
      options.maxHeaderBytes === undefined ? {} : { maxHeaderSize: options.maxHeaderBytes },
      listener,
    );
    this.http1Server.on("connection", (socket: net.Socket) => {
      this.http1Requests.set(socket, new Set());
      socket.once("close", () => this.http1Requests.delete(socket));
    });
    this.http1Server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      const responses = this.http1Requests.get(socket) ?? new Set<http.ServerResponse>();
      this.http1Requests.set(socket, responses);
      responses.add(res);
      if (this.draining) {
        closeAfter(res);
      }
      res.once("close", () => {
        responses.delete(res);
        if (this.draining && responses.size === 0) {
          socket.destroy();
        }
      });
    });
    this.http2Server.on("session", (session) => {
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
    });
    this.tcp = net.createServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      socket.once("data", (chunk: Buffer) => {
        socket.pause();
        socket.unshift(chunk);
        if (isHttp2Preface(chunk)) {
          // The HTTP/2 session reads what is buffered on the socket itself.
          this.http2Server.emit("connection", socket);
        } else {
          this.http1Server.emit("connection", socket);
          socket.resume();
        }
      });
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.off("error", reject);
        resolve((this.tcp.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting connections and asks open ones to finish: HTTP/2 sessions
   * get GOAWAY and close once their streams end; HTTP/1.1 connections close
   * as soon as they are idle. Resolves when every connection is closed.
   */
  drain(): Promise<void> {
    this.draining = true;
    this.tcp.close();
    for (const session of this.sessions) {
      session.close();
    }
    for (const [socket, responses] of this.http1Requests) {
      if (responses.size === 0) {
        socket.destroy();
      }
      responses.forEach(closeAfter);
    }
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.sockets.size === 0) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(check, 20);
      check();
    });
  }

  /** Ends every connection at once. */
  destroy(): void {
    for (const session of this.sessions) {
      session.destroy();
    }
    for (const socket of this.sockets) {
      socket.destroy();
    }
  }
}

/**
 * Makes a response not yet begun say "Connection: close" and end its
 * connection: a keep-alive client polling the port would otherwise hold the
 * connection open through a drain.
 */
function closeAfter(res: http.ServerResponse): void {
  if (!res.headersSent) {
    res.shouldKeepAlive = false;
  }
}

const preface = Buffer.from("PRI");

function isHttp2Preface(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, preface.length);
  return chunk.subarray(0, n).equals(preface.subarray(0, n));
}
