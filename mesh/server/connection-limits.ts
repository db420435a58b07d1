/**
 * What one listener allows a client before it does any work for it: how long
 * each phase of a connection may take and how much a client may hold. Every
 * Meshwork port (the gateway's and each service's) applies them, HTTP/1.1 and
 * HTTP/2 alike. The defaults suit an internet edge (Envoy's edge-proxy
 * recommendations: 10 s for request headers, 100 concurrent HTTP/2 streams)
 * and are loose enough for internal callers, whose HTTP/2 sessions carry many
 * calls and which reconnect on GOAWAY by themselves.
 */
export interface ConnectionLimits {
  /**
   * From accepting a connection to the bytes that say which protocol it
   * speaks (the first request line, or the HTTP/2 preface). A connection that
   * sends nothing is closed then. Default: 10 s.
   */
  readonly firstByteTimeoutMs: number;
  /**
   * HTTP/1.1: from a request's first byte to the end of its headers. Default:
   * 10 s.
   */
  readonly headersTimeoutMs: number;
  /**
   * The time to receive a whole request: HTTP/1.1 headers and body (408 after
   * it), an HTTP/2 stream's body (RST_STREAM CANCEL after it). Not the time a
   * handler takes: deadlines bound that. Default: 60 s, enough for a 1 MiB
   * body at 20 KiB/s.
   */
  readonly requestTimeoutMs: number;
  /** HTTP/1.1: how long a keep-alive connection may wait idle for its next request. Default: 5 s (Node's). */
  readonly keepAliveTimeoutMs: number;
  /**
   * HTTP/2: how long a session may stay with no open stream before it gets
   * GOAWAY (NO_ERROR) and is closed. Default: 300 s: internal clients keep a
   * session for many calls, and a client told GOAWAY simply opens a new one.
   */
  readonly http2IdleTimeoutMs: number;
  /**
   * HTTP/2: streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
   * A stream beyond it is refused with RST_STREAM REFUSED_STREAM; a client
   * that had acknowledged the setting and exceeds it anyway loses its session
   * (GOAWAY). Default:
   * 100, gRPC's and Envoy's usual; Node's own is 2^32-1.
   */
  readonly maxConcurrentStreams: number;
  /**
   * Connections open at once in this process; one beyond it is closed at
   * accept. Default: 10,000. A process whose open-file limit is lower gets a
   * lower cap (see `capForFileLimit`), so that it refuses connections instead
   * of failing to open files.
   */
  readonly maxConnections: number;
  /**
   * The largest header block: HTTP/1.1 (431 beyond it) and the HTTP/2 header
   * list (SETTINGS_MAX_HEADER_LIST_SIZE; RST_STREAM beyond it). Default: 16 KiB.
   */
  readonly maxHeaderBytes: number;
}

export const defaultConnectionLimits: ConnectionLimits = {
  firstByteTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  http2IdleTimeoutMs: 300_000,
  maxConcurrentStreams: 100,
  maxConnections: 10_000,
  maxHeaderBytes: 16 * 1024,
};

/**
 * The defaults with `overrides` applied, checked once: every value a positive
 * integer, and the headers timeout no longer than the request timeout (which
 * includes it). A bad value is a RangeError naming the field.
 */
export function connectionLimits(overrides: Partial<ConnectionLimits> = {}): ConnectionLimits {
  const limits = { ...defaultConnectionLimits, ...withoutUndefined(overrides) };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`connection limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(
      `connection limit headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`,
    );
  }
  return limits;
}

/**
 * Descriptors a process keeps for itself beyond its connections: its
 * databases, log pipes, outbound sessions to other services.
 */
export const reservedFileDescriptors = 256;

/**
 * The connection cap that fits under an open-file limit: `maxConnections`,
 * or the limit less `reservedFileDescriptors` when that is smaller (at least
 * 1). Without it a flood of connections would exhaust descriptors and make
 * the process fail at opening anything else.
 */
export function capForFileLimit(maxConnections: number, openFileLimit: number | undefined): number {
  if (openFileLimit === undefined) {
    return maxConnections;
  }
  return Math.max(1, Math.min(maxConnections, openFileLimit - reservedFileDescriptors));
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
