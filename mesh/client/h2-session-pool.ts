import http2 from "node:http2";

/**
 * How a dead peer is noticed. A host that dies without closing its
 * connections (killed, its link gone, partitioned) sends no RST and no
 * GOAWAY: without these, a connect would wait for the kernel's SYN retries
 * (minutes) and calls on an open session until their deadline, and the
 * balancer would never learn to avoid the endpoint. With them a connect
 * that does not complete fails as refused (no request was sent, so the next
 * endpoint may take it), and a session with calls in flight that stops
 * answering PINGs is destroyed, failing its calls Unavailable, as gRPC's
 * keepalive and Envoy's connect_timeout do.
 */
export interface H2DeadPeerOptions {
  /**
   * A connection not established within this fails as refused. Default 2 s:
   * well inside the mesh's default 5 s deadline, so that a call waiting on a
   * connect to a dead or cut-off host still has time to go to another
   * endpoint (a connect that is only slow costs the same: the call goes
   * elsewhere).
   */
  readonly connectTimeoutMs?: number;
  /** While calls are in flight, a PING this often. Default 1 s. */
  readonly pingIntervalMs?: number;
  /**
   * A PING not acknowledged within this destroys the session. Default 2 s:
   * with the interval, a dead peer is found within 3 s, inside the default
   * 5 s deadline, so its idempotent calls are retried on another endpoint
   * (Unavailable) instead of all running out of time.
   */
  readonly pingTimeoutMs?: number;
}

/** The code of the error a connect that timed out fails with; it counts as refused. */
export const connectTimeoutCode = "ERR_MESH_H2_CONNECT_TIMEOUT";
/**
 * The code of the cause of a call that failed before its session was
 * connected (no route to the host, reset in the TLS handshake, ...): no
 * HTTP/2 frame was sent, so it counts as refused.
 */
export const connectFailedCode = "ERR_MESH_H2_CONNECT_FAILED";
/** The code of the error a session whose peer stopped answering PINGs is destroyed with. */
export const pingTimeoutCode = "ERR_MESH_H2_PING_TIMEOUT";

/** One live session at a time, plus those draining after GOAWAY or close. */
export class H2SessionPool {
  closed = false;
  private current: http2.ClientHttp2Session | undefined;
  private readonly all = new Set<http2.ClientHttp2Session>();
  /** Open streams per session, to ref() the socket while there are any. */
  private readonly active = new WeakMap<http2.ClientHttp2Session, number>();
  /** The PING loop of each session with calls in flight. */
  private readonly pingers = new WeakMap<http2.ClientHttp2Session, NodeJS.Timeout>();
  /** Sessions whose connection was established (TLS handshake included). */
  private readonly connected = new WeakSet<http2.ClientHttp2Session>();
  private readonly connectTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;

  constructor(
    readonly authority: string,
    options: H2DeadPeerOptions = {},
    /** Options of each session, e.g. `createConnection` for mTLS. */
    private readonly sessionOptions: http2.SecureClientSessionOptions = {},
  ) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 1_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2_000;
  }

  get(): http2.ClientHttp2Session {
    const existing = this.current;
    if (existing !== undefined && !existing.closed && !existing.destroyed) {
      return existing;
    }
    const session = http2.connect(this.authority, this.sessionOptions);
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
      clearInterval(this.pingers.get(session));
    });
    const connectTimer = setTimeout(() => afterPendingIo(() => {
      if (!session.connecting || session.destroyed) return;
      session.destroy(failure(connectTimeoutCode, `connecting to ${this.authority} timed out after ${this.connectTimeoutMs} ms`));
    }), this.connectTimeoutMs);
    connectTimer.unref();
    session.once("connect", () => {
      clearTimeout(connectTimer);
      this.connected.add(session);
    });
    session.once("close", () => clearTimeout(connectTimer));
    return session;
  }

  /** Counts an open stream on `session` (ref()'d while it has any). */
  opened(session: http2.ClientHttp2Session): void {
    const n = this.active.get(session) ?? 0;
    this.active.set(session, n + 1);
    if (n === 0) {
      session.ref();
      this.startPinging(session);
    }
  }

  /** Counts a stream closed on `session` (unref()'d once it has none). */
  closedStream(session: http2.ClientHttp2Session): void {
    const n = (this.active.get(session) ?? 1) - 1;
    this.active.set(session, n);
    if (n === 0) {
      clearInterval(this.pingers.get(session));
      this.pingers.delete(session);
      if (!session.destroyed) {
        session.unref();
      }
    }
  }

  private startPinging(session: http2.ClientHttp2Session): void {
    let outstanding = false;
    const pinger = setInterval(() => {
      if (outstanding || session.destroyed || session.connecting) return;
      outstanding = true;
      const timeout = setTimeout(() => afterPendingIo(() => {
        if (!outstanding || session.destroyed) return;
        session.destroy(failure(pingTimeoutCode, `${this.authority} did not answer a PING within ${this.pingTimeoutMs} ms`));
      }), this.pingTimeoutMs);
      try {
        session.ping((err) => {
          outstanding = false;
          clearTimeout(timeout);
          // A PING is cancelled when its session closes (the server's
          // GOAWAY as it drains): the streams still in flight on it finish
          // there, so that is no reason to destroy it and fail them.
          if (err !== null && !session.destroyed && (err as NodeJS.ErrnoException).code !== "ERR_HTTP2_PING_CANCEL") session.destroy(err);
        });
      } catch {
        // Too many PINGs in flight or the session is closing: the next round decides.
        outstanding = false;
        clearTimeout(timeout);
      }
    }, this.pingIntervalMs);
    pinger.unref();
    this.pingers.set(session, pinger);
  }

  /** Whether `session` ever connected: if not, nothing was sent on it. */
  hasConnected(session: http2.ClientHttp2Session): boolean {
    return this.connected.has(session);
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

/**
 * Runs `verdict` after the I/O already waiting is handled: when the event
 * loop was blocked past a timeout, the connect or PING ack that arrived
 * meanwhile is seen first, so a busy process does not condemn a live peer.
 */
function afterPendingIo(verdict: () => void): void {
  setImmediate(verdict);
}

function failure(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
