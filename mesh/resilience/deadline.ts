import { Code, ConnectError, createContextKey, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import {
  headerTimeout as connectTimeoutHeader,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import { headerTimeout as grpcTimeoutHeader, parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import { currentInboundCall } from "../context/inbound-call.js";

export interface DeadlineOptions {
  /**
   * The timeout of a call whose method has no entry in `methodTimeoutsMs` and
   * whose caller set none. Required: every outbound call has a deadline, and
   * the right one depends on the service (e.g. 5000).
   */
  readonly defaultTimeoutMs: number;
  /**
   * Per-method timeouts, keyed by "package.Service/Method" (e.g.
   * "meshwork.payments.v1.PaymentService/AuthorizePayment"). Default: none.
   */
  readonly methodTimeoutsMs?: Readonly<Record<string, number>>;
  /**
   * How much of the inbound call's remaining budget an outbound call leaves
   * unused, so that the caller still has time to act on the outbound call's
   * failure (and to send its own response) before its own deadline. Default:
   * 5 ms — about the cost of one local round trip plus scheduling jitter.
   */
  readonly propagationMarginMs?: number;
}

/**
 * Set by the deadline interceptor on a call whose deadline is shorter than
 * its method's configured timeout because its caller chose so: a per-call
 * timeout, or what was left of the inbound call's budget. Such a call's
 * DeadlineExceeded says that the caller was in a hurry, not that the upstream
 * exceeded its timeout, and the circuit breaker does not count it
 * (circuit-breaker.ts): otherwise any client could open a breaker every
 * other caller shares by asking for 1 ms.
 */
export const callerShortenedDeadline = createContextKey<boolean>(false, { description: "deadline shortened by the caller" });

/** Larger timeouts do not fit in gRPC's 8-digit grpc-timeout value. */
const maxGrpcTimeoutMs = 99_999_999;
/** Larger timeouts do not fit in Connect's 10-digit connect-timeout-ms value. */
const maxConnectTimeoutMs = 9_999_999_999;

/**
 * A client interceptor that gives every outbound call a deadline and carries
 * the inbound call's deadline and cancellation over to it.
 *
 * The call's own timeout is the caller's per-call `timeoutMs` if it set one,
 * else the method's entry in `methodTimeoutsMs`, else `defaultTimeoutMs`.
 * Inside a handler served under `inboundCallScope`, the timeout becomes
 * min(own, inbound deadline - now - margin); with no budget left the call
 * fails with DeadlineExceeded without being sent. The call is aborted with
 * DeadlineExceeded when its timeout elapses and with Canceled when the inbound
 * call is cancelled. The effective timeout goes on the wire (grpc-timeout for
 * gRPC and gRPC-Web, connect-timeout-ms for Connect) so the next server
 * propagates it further.
 *
 * How a per-call timeout is recognised: Connect-ES v2 does not pass
 * `CallOptions.timeoutMs` to interceptors; the transport turns it into the
 * protocol's timeout header (and a deadline on `req.signal`) before the
 * interceptors run, and sets no header when the caller set no timeout or set
 * one <= 0. So a timeout header on the request is the caller's per-call
 * timeout, and its absence means none. Consequences: a transport-level
 * `defaultTimeoutMs` would count as a per-call timeout (ClientFactory sets
 * none), and `timeoutMs <= 0` ("no timeout" in Connect) gets the method's
 * default here, since in the mesh every call has a deadline.
 */
export function deadlineInterceptor(options: DeadlineOptions): Interceptor {
  const defaultTimeoutMs = positive(options.defaultTimeoutMs, "defaultTimeoutMs");
  const methodTimeoutsMs = new Map<string, number>();
  for (const [method, ms] of Object.entries(options.methodTimeoutsMs ?? {})) {
    methodTimeoutsMs.set(method, positive(ms, `methodTimeoutsMs["${method}"]`));
  }
  const marginMs = options.propagationMarginMs ?? 5;
  if (!Number.isFinite(marginMs) || marginMs < 0) {
    throw new RangeError(`propagationMarginMs must be a finite number >= 0, got ${marginMs}`);
  }

  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    // Before a wire protocol is chosen (inside withInterceptors) there is no
    // content-type yet, and timeouts travel as grpc-timeout.
    const contentType = req.header.get("content-type");
    const grpc = contentType === null || contentType.startsWith("application/grpc");
    const configuredMs = methodTimeoutsMs.get(method) ?? defaultTimeoutMs;
    const ownMs = perCallTimeoutMs(req.header, grpc) ?? configuredMs;

    const inbound = currentInboundCall();
    let timeoutMs = ownMs;
    if (inbound?.deadline !== undefined) {
      const budgetMs = inbound.deadline - Date.now() - marginMs;
      if (budgetMs <= 0) {
        throw new ConnectError(`no time left for ${method}`, Code.DeadlineExceeded);
      }
      timeoutMs = Math.min(ownMs, budgetMs);
    }
    if (inbound?.signal.aborted) {
      throw inboundCanceled(method, inbound.signal.reason);
    }
    // Whole milliseconds on the wire, at least 1: "0m" would be an expired deadline.
    timeoutMs = Math.min(Math.max(1, Math.floor(timeoutMs)), grpc ? maxGrpcTimeoutMs : maxConnectTimeoutMs);
    if (timeoutMs < configuredMs) {
      // The call's own context values (made for this call by the client).
      req.contextValues.set(callerShortenedDeadline, true);
    }

    if (inbound === undefined) {
      // Nothing to propagate: the timeout header is the whole job. The
      // transport below arms the deadline for each attempt, and retries never
      // sleep past it, so a timer and an AbortController of our own per call
      // would only cost (about 17% of a call's client CPU when they were
      // removed, measured in commit 5d49e8e; no benchmark row keeps them).
      // The headers belong to this call (the transport built them for it).
      req.header.set(grpc ? grpcTimeoutHeader : connectTimeoutHeader, grpc ? `${timeoutMs}m` : `${timeoutMs}`);
      return next(req);
    }

    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new ConnectError(`deadline exceeded for ${method}`, Code.DeadlineExceeded)),
      timeoutMs,
    );
    const onCallerAbort = () => controller.abort(req.signal.reason);
    const inboundSignal = inbound?.signal;
    const onInboundAbort = () => controller.abort(inboundCanceled(method, inboundSignal?.reason));
    req.signal.addEventListener("abort", onCallerAbort);
    inboundSignal?.addEventListener("abort", onInboundAbort);
    const cleanup = () => {
      clearTimeout(timer);
      req.signal.removeEventListener("abort", onCallerAbort);
      inboundSignal?.removeEventListener("abort", onInboundAbort);
    };
    if (req.signal.aborted) {
      onCallerAbort();
    }

    const header = new Headers(req.header);
    header.set(grpc ? grpcTimeoutHeader : connectTimeoutHeader, grpc ? `${timeoutMs}m` : `${timeoutMs}`);

    let res: UnaryResponse | StreamResponse;
    try {
      res = await next({ ...req, header, signal: controller.signal });
    } catch (e) {
      cleanup();
      // The transport may report our abort as a transport error (e.g. a reset
      // stream); the reason we aborted with is the truth.
      throw controller.signal.aborted ? ConnectError.from(controller.signal.reason) : e;
    }
    if (!res.stream) {
      cleanup();
      return res;
    }
    // A streaming call lasts until its response stream ends.
    return { ...res, message: settleAfter(res.message, controller.signal, cleanup) };
  };
}

/** The caller's per-call timeout, read from the protocol's timeout header (see deadlineInterceptor). */
function perCallTimeoutMs(header: Headers, grpc: boolean): number | undefined {
  const value = header.get(grpc ? grpcTimeoutHeader : connectTimeoutHeader);
  if (value === null) {
    return undefined;
  }
  const parsed = grpc
    ? parseGrpcTimeout(value, Number.MAX_SAFE_INTEGER)
    : parseConnectTimeout(value, Number.MAX_SAFE_INTEGER);
  if (parsed.error !== undefined) {
    throw parsed.error;
  }
  return parsed.timeoutMs;
}

function inboundCanceled(method: string, reason: unknown): ConnectError {
  return new ConnectError(`inbound call cancelled, cancelling ${method}`, Code.Canceled, undefined, undefined, reason);
}

async function* settleAfter<T>(messages: AsyncIterable<T>, signal: AbortSignal, cleanup: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (e) {
    throw signal.aborted ? ConnectError.from(signal.reason) : e;
  } finally {
    cleanup();
  }
}

function positive(ms: number, name: string): number {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`${name} must be a finite number > 0, got ${ms}`);
  }
  return ms;
}
