import http2 from "node:http2";

/** One live session at a time, plus those draining after GOAWAY or close. */
export class H2SessionPool {
  closed = false;
  private current: http2.ClientHttp2Session | undefined;
  private readonly all = new Set<http2.ClientHttp2Session>();
  /** Open streams per session, to ref() the socket while there are any. */
  private readonly active = new WeakMap<http2.ClientHttp2Session, number>();

  constructor(private readonly authority: string) {}

  get(): http2.ClientHttp2Session {
    const existing = this.current;
    if (existing !== undefined && !existing.closed && !existing.destroyed) {
      return existing;
    }
    const session = http2.connect(this.authority);
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
    });
    return session;
  }

  /** Counts an open stream on `session` (ref()'d while it has any). */
  opened(session: http2.ClientHttp2Session): void {
    const n = this.active.get(session) ?? 0;
    this.active.set(session, n + 1);
    if (n === 0) {
      session.ref();
    }
  }

  /** Counts a stream closed on `session` (unref()'d once it has none). */
  closedStream(session: http2.ClientHttp2Session): void {
    const n = (this.active.get(session) ?? 1) - 1;
    this.active.set(session, n);
    if (n === 0 && !session.destroyed) {
      session.unref();
    }
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
