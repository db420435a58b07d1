import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { MethodOptions_IdempotencyLevel as IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { isDependencyUnavailable } from "../dependency-unavailable.js";
import type { ResilienceEvents } from "./resilience-events.js";

// Place in the client chain, outermost first:
//   deadline -> circuit breaker -> retry -> bulkhead -> balancer -> transport
// Retry sits inside the breaker, so a logical call counts once there however
// many attempts it took, and outside the bulkhead and balancer, so each attempt
// takes its own slot and may go to another endpoint.

/** How many retries a target may take, relative to the calls it gets. */
export interface RetryBudgetOptions {
  /** Retries allowed per call in the window. Default: 0.2. */
  readonly ratio: number;
  /** Retries always allowed, per second of window, however few calls there were. Default: 10. */
  readonly minRetriesPerSecond: number;
  /** The sliding window the ratio is measured over. Default: 10000 ms. */
  readonly windowMs: number;
}

export interface RetryOptions {
  /** The logical target name (e.g. "payments"), used in events. */
  readonly target: string;
  /** Where retries and budget exhaustion are reported. */
  readonly events?: ResilienceEvents;
  /** Attempts per call, the first included. Default: 3. */
  readonly maxAttempts?: number;
  /** The backoff cap before the first retry; it doubles for each retry after. Default: 25 ms. */
  readonly initialBackoffMs?: number;
  /** The largest backoff cap. Default: 1000 ms. */
  readonly maxBackoffMs?: number;
  /**
   * Shared by every call through this interceptor, i.e. per target, so that in
   * an outage retries add at most `ratio` more load (plus the floor) instead of
   * multiplying it by `maxAttempts`. Default: { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10000 }.
   */
  readonly budget?: RetryBudgetOptions;
}

/**
 * Retries a unary call that failed with Unavailable, when the method's
 * contract says a retry is safe: its proto `idempotency_level` is
 * NO_SIDE_EFFECTS or IDEMPOTENT (docs/architecture.md, "The contract carries
 * the rules": read from the descriptor, so the .proto is the one place it is
 * decided). Unavailable means the call was not
 * processed or the server is unreachable; any other code is an answer and is
 * returned as is. So is an Unavailable the server answered about a dependency
 * of its own (mesh/dependency-unavailable.ts): the server next to the
 * dependency decides whether to retry it, and retrying at every layer above
 * would multiply the load on a dependency that is already down (each layer's
 * attempts times the next's), and spend this target's retry budget, which is
 * there for its endpoints' failures.
 *
 * Backoff is exponential with full jitter: before retry n (1-based) it sleeps
 * random(0, min(maxBackoffMs, initialBackoffMs * 2^(n-1))). It never sleeps
 * past the call's deadline: when the backoff would end after it, or the
 * call's signal aborts while sleeping, the last error is returned. Later
 * attempts carry the remaining time as their timeout header, not the original.
 * Streaming calls pass through untouched.
 */
export function retryInterceptor(options: RetryOptions): Interceptor {
  const { target, events } = options;
  const maxAttempts = options.maxAttempts ?? 3;
  const initialBackoffMs = options.initialBackoffMs ?? 25;
  const maxBackoffMs = options.maxBackoffMs ?? 1_000;
  const budget = new RetryBudget(options.budget ?? { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 });

  return (next) => async (req) => {
    if (req.stream || !retrySafe.has(req.method.idempotency)) {
      return next(req);
    }
    budget.recordCall();
    const deadline = deadlineOf(req.header);
    let request = req;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(request);
      } catch (e) {
        const err = ConnectError.from(e);
        if (err.code !== Code.Unavailable || isDependencyUnavailable(err) || attempt >= maxAttempts || req.signal.aborted) {
          throw err;
        }
        // eslint-disable-next-line @microsoft/sdl/no-insecure-random -- full jitter for backoff, not a secret
        const delayMs = Math.random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** (attempt - 1));
        if (deadline !== undefined && performance.now() + delayMs >= deadline) {
          throw err;
        }
        const method = `${req.service.typeName}/${req.method.name}`;
        if (!budget.tryRetry()) {
          events?.emit("retryBudgetExhausted", { target, method });
          throw err;
        }
        events?.emit("retry", { target, method, attempt: attempt + 1, delayMs, code: Code[err.code] });
        if (!(await sleep(delayMs, req.signal))) {
          throw err;
        }
        if (deadline !== undefined) {
          request = { ...req, header: withTimeout(req.header, deadline - performance.now()) };
        }
      }
    }
  };
}

const retrySafe: ReadonlySet<IdempotencyLevel> = new Set([IdempotencyLevel.NO_SIDE_EFFECTS, IdempotencyLevel.IDEMPOTENT]);

const grpcTimeout = "grpc-timeout";
const connectTimeout = "connect-timeout-ms";

/**
 * The call's deadline on the performance.now() clock, from the timeout header
 * the transport sets from `timeoutMs` before interceptors run (gRPC's
 * grpc-timeout, Connect's connect-timeout-ms); undefined if it has none.
 */
function deadlineOf(header: Headers): number | undefined {
  const grpc = header.get(grpcTimeout);
  const { timeoutMs } =
    grpc !== null ? parseGrpcTimeout(grpc, Number.MAX_SAFE_INTEGER) : parseConnectTimeout(header.get(connectTimeout), Number.MAX_SAFE_INTEGER);
  return timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
}

/** A copy of `header` whose timeout header says `remainingMs`. */
function withTimeout(header: Headers, remainingMs: number): Headers {
  const copy = new Headers(header);
  const ms = Math.max(1, Math.floor(remainingMs));
  if (copy.has(grpcTimeout)) {
    copy.set(grpcTimeout, `${ms}m`);
  } else {
    copy.set(connectTimeout, String(ms));
  }
  return copy;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls and retries over a sliding window of fixed buckets, kept as running
 * totals: recording and checking are O(1) with nothing allocated per call. A
 * retry is allowed while retries + 1 <= ratio * calls + minRetriesPerSecond * windowSeconds.
 */
class RetryBudget {
  private static readonly buckets = 10;
  private readonly calls = new Float64Array(RetryBudget.buckets);
  private readonly retries = new Float64Array(RetryBudget.buckets);
  private readonly bucketMs: number;
  private readonly floor: number;
  private callsInWindow = 0;
  private retriesInWindow = 0;
  private head = 0;
  private epoch: number;

  constructor(private readonly options: RetryBudgetOptions) {
    this.bucketMs = Math.max(1, options.windowMs / RetryBudget.buckets);
    this.floor = (options.minRetriesPerSecond * options.windowMs) / 1_000;
    this.epoch = Math.floor(performance.now() / this.bucketMs);
  }

  recordCall(): void {
    this.advance();
    this.calls[this.head]! += 1;
    this.callsInWindow += 1;
  }

  tryRetry(): boolean {
    this.advance();
    if (this.retriesInWindow + 1 > this.options.ratio * this.callsInWindow + this.floor) {
      return false;
    }
    this.retries[this.head]! += 1;
    this.retriesInWindow += 1;
    return true;
  }

  /** Drops the buckets that have left the window since the last call. */
  private advance(): void {
    const epoch = Math.floor(performance.now() / this.bucketMs);
    const steps = Math.min(RetryBudget.buckets, epoch - this.epoch);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % RetryBudget.buckets;
      this.callsInWindow -= this.calls[this.head]!;
      this.retriesInWindow -= this.retries[this.head]!;
      this.calls[this.head] = 0;
      this.retries[this.head] = 0;
    }
    this.epoch = epoch;
  }
}
