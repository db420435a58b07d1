import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { isDependencyUnavailable } from "../dependency-unavailable.js";
import type { ResilienceEvents } from "../resilience/resilience-events.js";
import type { EndpointResolver } from "./endpoint-resolver.js";
import { OutlierDetector, type OutlierDetectorOptions } from "./outlier-detector.js";

/** A transport to one endpoint; `close`, when present, is called once the endpoint is dropped. */
export type EndpointTransport = Transport & { close?(): void };

export interface BalancedTransportOptions {
  /** The logical target name in events, e.g. "inventory". */
  readonly target: string;
  readonly resolver: EndpointResolver;
  /** Makes the transport for one endpoint; called once per base URL while it stays resolved. */
  readonly makeTransport: (baseUrl: string) => EndpointTransport;
  /** Receives endpointEjected and endpointRestored. */
  readonly events?: ResilienceEvents;
  readonly outlier?: OutlierDetectorOptions;
  /** How often to resolve again. Default: the resolver's `refreshMs`; unset there too, never. */
  readonly refreshMs?: number;
}

/** A Connect transport over several endpoints. Close it on shutdown. */
export interface BalancedTransport extends Transport {
  /** Stops re-resolving and closes the endpoints' transports that can be closed. */
  close(): void;
}

/**
 * Spreads calls round-robin over a target's endpoints that outlier detection
 * has not ejected.
 *
 * Only transport failures count against an endpoint: a ConnectError with
 * Code.Unavailable (connect-node maps connection refused, unresolvable and
 * timed-out connects to it), a refusal (below), which connect-node reports
 * as Internal when HTTP/2 refuses the stream, or a call whose deadline ran
 * out here with no answer from the endpoint (a dead or cut-off host answers
 * nothing). Any other outcome, application errors included (a
 * DeadlineExceeded the endpoint itself answers too, and an Unavailable it
 * answers about a dependency of its own, mesh/dependency-unavailable.ts),
 * shows the endpoint answering and counts as a success; a cancellation by the caller says
 * nothing about the endpoint and is not counted.
 *
 * A unary call that was refused is sent once more, to the next endpoint:
 * safe whatever the method's idempotency, because the request never reached
 * a handler. Refused means: the connection was refused or could not
 * be made (ECONNREFUSED, the h2 transport's connect timeout or a failure
 * before its session connected, or grpc-js's "No connection established"),
 * or the
 * stream was refused by a server going away (HTTP/2 REFUSED_STREAM, or a new
 * stream on a session that already had GOAWAY), which HTTP/2 guarantees was
 * not processed (RFC 9113 section 8.7). Streams are never re-sent (their
 * input may already be consumed).
 *
 * Endpoints are resolved on the first call, then every `refreshMs` and after
 * a call fails Unavailable (at most once a second); a failed
 * or empty resolution keeps the last good list.
 */
export function createBalancedTransport(options: BalancedTransportOptions): BalancedTransport {
  return new Balancer(options);
}

class Balancer implements BalancedTransport {
  private readonly detector: OutlierDetector;
  private readonly transports = new Map<string, EndpointTransport>();
  private endpoints: string[] = [];
  private next = 0;
  private firstResolve: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastFailureRefresh = 0;
  private closed = false;

  constructor(private readonly options: BalancedTransportOptions) {
    this.detector = new OutlierDetector(options.outlier);
  }

  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: MessageInitShape<I>,
    contextValues?: ContextValues,
  ): Promise<UnaryResponse<I, O>> {
    if (this.endpoints.length === 0 || this.closed) {
      await this.ready();
    }
    const first = this.pick();
    try {
      return await this.observe(first, this.transport(first).unary(method, signal, timeoutMs, header, input, contextValues), signal);
    } catch (e) {
      const fallback = signal?.aborted === true || !wasRefused(e) ? undefined : this.pick(first);
      if (fallback === undefined) {
        throw e;
      }
      return await this.observe(fallback, this.transport(fallback).unary(method, signal, timeoutMs, header, input, contextValues), signal);
    }
  }

  async stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: AsyncIterable<MessageInitShape<I>>,
    contextValues?: ContextValues,
  ): Promise<StreamResponse<I, O>> {
    await this.ready();
    const endpoint = this.pick();
    let res: StreamResponse<I, O>;
    try {
      res = await this.transport(endpoint).stream(method, signal, timeoutMs, header, input, contextValues);
    } catch (e) {
      this.record(endpoint, e, signal);
      throw e;
    }
    return { ...res, message: this.observeMessages(endpoint, res.message) };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const transport of this.transports.values()) {
      transport.close?.();
    }
    this.transports.clear();
  }

  private ready(): Promise<void> {
    if (this.closed) {
      return Promise.reject(new ConnectError(`${this.options.target}: transport closed`, Code.Unavailable));
    }
    this.firstResolve ??= this.refresh().then(() => {
      if (this.endpoints.length === 0) {
        // Let the next call try again rather than fail forever.
        this.firstResolve = undefined;
        throw new ConnectError(`${this.options.target}: no endpoints resolved`, Code.Unavailable);
      }
      this.schedule();
    });
    return this.firstResolve;
  }

  private schedule(): void {
    const refreshMs = this.options.refreshMs ?? this.options.resolver.refreshMs;
    if (refreshMs === undefined || this.closed) {
      return;
    }
    this.timer = setTimeout(() => void this.refresh().finally(() => this.schedule()), refreshMs);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    let resolved: string[];
    try {
      resolved = await this.options.resolver.resolve();
    } catch {
      return;
    }
    if (resolved.length === 0 || this.closed) {
      return;
    }
    this.endpoints = [...new Set(resolved)];
    this.detector.setEndpoints(this.endpoints);
    for (const [endpoint, transport] of this.transports) {
      if (!this.endpoints.includes(endpoint)) {
        this.transports.delete(endpoint);
        transport.close?.();
      }
    }
  }

  /**
   * The next endpoint round-robin among those not ejected, skipping `exclude`;
   * undefined when only `exclude` is left. If every endpoint is ejected (the
   * eligible ones were dropped on re-resolve), all of them are used.
   */
  private pick(): string;
  private pick(exclude: string): string | undefined;
  private pick(exclude?: string): string | undefined {
    let candidates = this.detector.eligible();
    if (candidates.length === 0) {
      candidates = this.endpoints;
    }
    if (exclude !== undefined) {
      candidates = candidates.filter((endpoint) => endpoint !== exclude);
      if (candidates.length === 0) {
        return undefined;
      }
    }
    const endpoint = candidates[this.next++ % candidates.length];
    if (endpoint === undefined) {
      throw new ConnectError(`${this.options.target}: no endpoints`, Code.Unavailable);
    }
    return endpoint;
  }

  private transport(endpoint: string): EndpointTransport {
    let transport = this.transports.get(endpoint);
    if (transport === undefined) {
      transport = this.options.makeTransport(endpoint);
      this.transports.set(endpoint, transport);
    }
    return transport;
  }

  private async observe<T>(endpoint: string, call: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    try {
      const result = await call;
      this.record(endpoint, undefined);
      return result;
    } catch (e) {
      this.record(endpoint, e, signal);
      throw e;
    }
  }

  private async *observeMessages<T>(endpoint: string, messages: AsyncIterable<T>): AsyncIterable<T> {
    try {
      yield* messages;
    } catch (e) {
      this.record(endpoint, e);
      throw e;
    }
    this.record(endpoint, undefined);
  }

  /**
   * An endpoint that fails may have moved (a replaced pod has a new address,
   * the old one answers nothing): resolve again now rather than at the next
   * refresh, as gRPC's resolvers do on a connection failure; at most once a
   * second, and never for a fixed list.
   */
  private refreshAfterFailure(): void {
    const now = Date.now();
    if (this.options.resolver.refreshMs === undefined || this.closed || now - this.lastFailureRefresh < 1_000) {
      return;
    }
    this.lastFailureRefresh = now;
    void this.refresh();
  }

  /** Feeds one call's outcome (undefined: it succeeded) to outlier detection. */
  private record(endpoint: string, error: unknown, signal?: AbortSignal): void {
    const code = error === undefined ? undefined : ConnectError.from(error).code;
    if (code === Code.Canceled) {
      return;
    }
    if ((code === Code.Unavailable && !isDependencyUnavailable(error)) || wasRefused(error) || timedOutWaiting(error, signal)) {
      this.refreshAfterFailure();
      const ejection = this.detector.recordFailure(endpoint);
      if (ejection !== undefined) {
        this.options.events?.emit("endpointEjected", { target: this.options.target, ...ejection });
      }
    } else if (this.detector.recordSuccess(endpoint)) {
      this.options.events?.emit("endpointRestored", { target: this.options.target, endpoint });
    }
  }
}

/**
 * True when the call ran out of its deadline here, waiting for the endpoint
 * (the caller's signal aborted, or the transport's own timer fired), rather
 * than the endpoint answering DeadlineExceeded: a host that died or was cut
 * off without closing its connections answers nothing, and until its session
 * is found dead every call sent to it ends this way. Envoy counts such
 * timeouts as 5xx toward its consecutive-failure ejection too; a deadline
 * that is not the endpoint's fault (a caller's tiny budget) costs at most one
 * short ejection.
 */
function timedOutWaiting(error: unknown, signal: AbortSignal | undefined): boolean {
  if (!(error instanceof ConnectError) || error.code !== Code.DeadlineExceeded) {
    return false;
  }
  // connect-node's and the h2 transport's message for their own timer.
  return signal?.aborted === true || error.rawMessage === "the operation timed out";
}

/** True when the request cannot have reached a handler: see `createBalancedTransport`. */
function wasRefused(error: unknown): boolean {
  // grpc-js fails a call without sending it when its channel has no
  // connection, and says so only in the message (the cause is not kept).
  if (error instanceof ConnectError && error.code === Code.Unavailable && error.rawMessage.startsWith("No connection established")) {
    return true;
  }
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as NodeJS.ErrnoException).code;
    if (
      code === "ECONNREFUSED" ||
      // The h2 transport's connect timeout: nothing was sent (mesh/client/h2-session-pool.ts).
      code === "ERR_MESH_H2_CONNECT_TIMEOUT" ||
      // Or its failure before the connection was made (mesh/client/h2-unary-call.ts).
      code === "ERR_MESH_H2_CONNECT_FAILED" ||
      code === "ERR_HTTP2_GOAWAY_SESSION" ||
      (code === "ERR_HTTP2_STREAM_ERROR" && e.message.includes("NGHTTP2_REFUSED_STREAM"))
    ) {
      return true;
    }
  }
  return false;
}
