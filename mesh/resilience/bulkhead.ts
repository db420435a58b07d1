import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError, failure } from "../errors.js";
import type { ResilienceEvents } from "./resilience-events.js";

// Place in the client chain, outermost first:
//   deadline -> circuit breaker -> retry -> bulkhead -> balancer -> transport
// Inside retry, each attempt takes a slot of its own and a retry waiting out
// its backoff holds none; a rejection (ResourceExhausted) is not retried.

export interface BulkheadOptions {
  /** The logical target name (e.g. "payments"), used in events and errors. */
  readonly target: string;
  /** Calls in flight to the target at most. Default: 64. */
  readonly maxConcurrent?: number;
  /** Where rejections are reported. */
  readonly events?: ResilienceEvents;
}

/** The reason of a bulkhead rejection, for `reasonOf(err)`. */
export const bulkheadFullReason = "BULKHEAD_FULL";

const rejections = new WeakSet<ConnectError>();

/**
 * Whether `err` is a rejection raised by a bulkhead in this process (not one
 * that came back from an upstream). The circuit breaker does not count these:
 * the bulkhead has already shed the excess, and opening the breaker on them
 * would turn a local burst into rejecting every call to a healthy target.
 */
export function isBulkheadRejection(err: unknown): boolean {
  return err instanceof ConnectError && rejections.has(err);
}

/**
 * Caps the unary calls in flight to one target, so a slow target ties up at
 * most `maxConcurrent` of the caller's calls (and their memory) instead of
 * all of them. A call beyond the cap fails at once with ResourceExhausted;
 * there is no queue, because a queued call would only spend its deadline
 * waiting behind the slow ones. Streaming calls pass through uncounted: their
 * response outlives the interceptor's promise, so they would need a slot held
 * until the stream ends.
 */
export function bulkheadInterceptor(options: BulkheadOptions): Interceptor {
  const { target, events } = options;
  const limit = options.maxConcurrent ?? 64;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`bulkhead "${target}": maxConcurrent must be a positive integer, got ${limit}`);
  }
  let inFlight = 0;
  return (next) => async (req) => {
    if (req.stream) {
      return next(req);
    }
    if (inFlight >= limit) {
      events?.emit("bulkheadRejected", { target, inFlight, limit });
      const err = failure(Code.ResourceExhausted, bulkheadFullReason, `bulkhead "${target}" is full (${inFlight} calls in flight)`);
      rejections.add(err);
      throw err;
    }
    inFlight++;
    try {
      return await next(req);
    } finally {
      inFlight--;
    }
  };
}
