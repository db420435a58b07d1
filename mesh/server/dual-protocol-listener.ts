import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { connectionLimits, type ConnectionLimits } from "./connection-limits.js";

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
  /** Timeouts and caps of every connection (see ConnectionLimits). Default: `defaultConnectionLimits`. */
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * TLS on the same port: a connection that starts with a TLS handshake
   * record gets TLS 1.3 (ALPN h2 or http/1.1); any other stays cleartext and
   * reaches the same listener, which tells them apart by
   * `peerOfSocket(req.socket)`. Default: cleartext only.
   */
  readonly tls?: ListenerTlsOptions;
}

export interface ListenerTlsOptions {
  /** The server's certificate, key and trust bundle; `setSecureContext` replaces them. */
  readonly context: tls.SecureContextOptions;
  /**
   * Asks clients for a certificate, verified against `context.ca`. A missing
   * or bad one does not fail the handshake: `onSecureConnection` sees the
   * outcome (socket.authorized, authorizationError), so that the caller gets
   * an RPC error saying why instead of a broken connection.
   */
  readonly requestCert?: boolean;
  /** Runs once per TLS connection after its handshake, before any request on it is read. */
  readonly onSecureConnection?: (socket: tls.TLSSocket) => void;
  /** A handshake that failed (e.g. a client that refused this server's certificate). */
  readonly onHandshakeError?: (err: Error, socket: tls.TLSSocket) => void;
}

/** An HTTP/2 session's open streams, and since when it has had none. */
interface SessionActivity {
  open: number;
  idleSince: number;
  closing: boolean;
}

/**
 * One TCP port that speaks cleartext HTTP/2 (prior knowledge, as gRPC clients
 * use) and HTTP/1.1 (curl, browsers' Connect and gRPC-Web calls, wrk). Node's
 * h2c server refuses HTTP/1.1, so each new connection is sorted by its first
 * bytes: the HTTP/2 connection preface starts with "PRI", no HTTP/1.1 method
 * does; a first chunk of "P" or "PR" waits for the next byte. With `tls`, a
 * connection whose first byte is a TLS handshake record is TLS, sorted again
 * after the handshake by ALPN.
 *
 * It enforces `ConnectionLimits` itself, because it owns the sockets: Node's
 * HTTP/1.1 server starts its headers and request timeouts only when it
 * listens, which http1Server never does, and Node's HTTP/2 server has no idle
 * timeout and allows 2^32-1 streams per session. One sweep per listener
 * (every quarter of the shortest timeout, at most every second) closes what
 * has run out of time, instead of a timer per connection or stream.
 */
export class DualProtocolListener {
  readonly http2Server: http2.Http2Server;
  readonly http1Server: http.Server;
  readonly limits: ConnectionLimits;
  private readonly tcp: net.Server;
  private readonly tlsServer: tls.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Connections not yet sorted by protocol, and when they were accepted. */
  private readonly unsorted = new Map<net.Socket, number>();
  private readonly sessions = new Map<http2.Http2Session, SessionActivity>();
  /** HTTP/2 streams whose request body is still arriving, and by when it must have. */
  private readonly pendingBodies = new Map<http2.ServerHttp2Stream, number>();
  /**
   * HTTP/1.1 connections and how many requests each is serving. Node's own
   * idle tracking (closeIdleConnections) is set up only by a server that
   * listens itself, which http1Server never does, so drain() uses this.
   */
  private readonly http1Requests = new Map<net.Socket, Set<http.ServerResponse>>();
  private readonly sweepMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(listener: RequestListener, options: DualProtocolListenerOptions = {}) {
    const limits = connectionLimits(options.limits);
    this.limits = limits;
    this.sweepMs = Math.max(
      50,
      Math.min(1_000, Math.floor(Math.min(limits.firstByteTimeoutMs, limits.headersTimeoutMs, limits.http2IdleTimeoutMs) / 4)),
    );
    const takeStream = options.takeStream ?? (() => false);
    // Streams that takeStream declines get Node's compatibility API from a
    // server that never listens: emitting "stream" on it builds req and res.
    const compat = http2.createServer({}, listener);
    this.http2Server = http2.createServer({
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
    });
    this.http2Server.on(
      "stream",
      (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
        this.track(stream, flags);
        if (!takeStream(stream, headers)) {
          compat.emit("stream", stream, headers, flags, rawHeaders);
        }
      },
    );
    // A peer's protocol error ends its session (nghttp2 sends GOAWAY) and
    // errors its streams; it must never reach the process as an unhandled
    // 'error'.
    this.http2Server.on("sessionError", ignore);
    this.http1Server = http.createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: this.sweepMs,
      },
      listener,
    );
    // What a listening server does on "listening": start tracking its
    // connections, which is what enforces headersTimeout and requestTimeout
    // (and makes closeIdleConnections work). http1Server never listens.
    this.http1Server.emit("listening");
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
    this.http2Server.on("session", (session: http2.Http2Session) => {
      this.sessions.set(session, { open: 0, idleSince: performance.now(), closing: false });
      session.once("close", () => this.sessions.delete(session));
    });
    const tlsOptions = options.tls;
    this.tlsServer =
      tlsOptions === undefined
        ? undefined
        : tls.createServer(
            {
              ...tlsOptions.context,
              minVersion: "TLSv1.3",
              requestCert: tlsOptions.requestCert ?? false,
              rejectUnauthorized: false,
              ALPNProtocols: ["h2", "http/1.1"],
              handshakeTimeout: limits.headersTimeoutMs,
            },
            (socket) => {
              tlsOptions.onSecureConnection?.(socket);
              if (socket.alpnProtocol === "h2") {
                this.http2Server.emit("connection", socket);
              } else {
                this.http1Server.emit("connection", socket);
              }
            },
          );
    this.tlsServer?.on("tlsClientError", (err, socket) => {
      tlsOptions?.onHandshakeError?.(err, socket);
      socket.destroy();
    });
    this.tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.tcp.maxConnections = limits.maxConnections;
  }

  /** Connections open now, of either protocol. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /**
   * New TLS connections use these credentials; connections already open keep
   * the ones they were made with until they close.
   */
  setSecureContext(context: tls.SecureContextOptions): void {
    if (this.tlsServer === undefined) {
      throw new Error("this listener serves cleartext only");
    }
    this.tlsServer.setSecureContext({ ...context, minVersion: "TLSv1.3" });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.off("error", reject);
        this.sweeper ??= setInterval(() => this.sweep(), this.sweepMs).unref();
        resolve((this.tcp.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting connections and asks open ones to finish: HTTP/2 sessions
   * get GOAWAY and close once their streams end; HTTP/1.1 connections close
   * as soon as they are idle, connections not yet sorted at once. Resolves
   * when every connection is closed.
   */
  drain(): Promise<void> {
    this.draining = true;
    this.tcp.close();
    for (const socket of this.unsorted.keys()) {
      socket.destroy();
    }
    for (const session of this.sessions.keys()) {
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
          this.stopSweeping();
          resolve();
        }
      };
      const timer = setInterval(check, 20);
      check();
    });
  }

  /** Ends every connection at once. */
  destroy(): void {
    this.stopSweeping();
    for (const session of this.sessions.keys()) {
      session.destroy();
    }
    for (const socket of this.sockets) {
      socket.destroy();
    }
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    this.unsorted.set(socket, performance.now());
    // Before a protocol owns the socket nothing else listens for its errors
    // (a reset from the client); after, this listener is one of several.
    socket.on("error", ignore);
    socket.once("close", () => {
      this.sockets.delete(socket);
      this.unsorted.delete(socket);
    });
    let received: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      received = received === undefined ? chunk : Buffer.concat([received, chunk]);
      const protocol = this.tlsServer !== undefined && received[0] === tlsHandshakeRecord ? "tls" : sniff(received);
      if (protocol === undefined) {
        return;
      }
      socket.off("data", onData);
      socket.pause();
      socket.unshift(received);
      this.unsorted.delete(socket);
      if (protocol === "tls") {
        // The TLS socket reads what is buffered on this one.
        this.tlsServer!.emit("connection", socket);
      } else if (protocol === "h2") {
        // The HTTP/2 session reads what is buffered on the socket itself.
        this.http2Server.emit("connection", socket);
      } else {
        this.http1Server.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  }

  /** Counts a new HTTP/2 stream against its session's idleness, and times its request body. */
  private track(stream: http2.ServerHttp2Stream, flags: number): void {
    stream.on("error", ignore);
    const session = stream.session === undefined ? undefined : this.sessions.get(stream.session);
    if (session !== undefined) {
      session.open++;
    }
    if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) === 0) {
      this.pendingBodies.set(stream, performance.now() + this.limits.requestTimeoutMs);
    }
    stream.once("close", () => {
      this.pendingBodies.delete(stream);
      if (session !== undefined && --session.open === 0) {
        session.idleSince = performance.now();
      }
    });
  }

  /** Closes what has run out of time; see the class comment. */
  private sweep(): void {
    const now = performance.now();
    for (const [socket, acceptedAt] of this.unsorted) {
      if (now - acceptedAt >= this.limits.firstByteTimeoutMs) {
        socket.destroy();
      }
    }
    for (const [stream, due] of this.pendingBodies) {
      if (stream.readableEnded || stream.closed) {
        this.pendingBodies.delete(stream);
      } else if (now >= due) {
        this.pendingBodies.delete(stream);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    }
    for (const [session, activity] of this.sessions) {
      if (activity.open === 0 && !activity.closing && now - activity.idleSince >= this.limits.http2IdleTimeoutMs) {
        activity.closing = true;
        session.goaway(http2.constants.NGHTTP2_NO_ERROR);
        session.close();
      }
    }
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
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

function ignore(): void {}

/** The first byte of a TLS connection: a handshake record (ClientHello); no HTTP request starts with it. */
const tlsHandshakeRecord = 0x16;

const preface = Buffer.from("PRI");

/**
 * The protocol of a connection from its first bytes: "h2" for the HTTP/2
 * preface ("PRI * HTTP/2.0..."), "http1" for anything else, undefined while
 * the bytes so far ("P", "PR") could still be either.
 */
export function sniff(bytes: Buffer): "h2" | "http1" | undefined {
  const n = Math.min(bytes.length, preface.length);
  if (!bytes.subarray(0, n).equals(preface.subarray(0, n))) {
    return "http1";
  }
  return n === preface.length ? "h2" : undefined;
}
