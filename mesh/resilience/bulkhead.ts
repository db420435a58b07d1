import { createContextKey, type Interceptor } from "@connectrpc/connect";
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
  /**
   * The largest fraction of `maxConcurrent` that the calls of one party (the
   * `bulkheadParty` context value of a call: the gateway sets a verified
   * subject, or the client's address) may hold at once, at least one slot:
   * with 64 slots and 0.25, one party has 16 and three others still get in.
   * Calls without a party are held only by the whole cap. Default: 1 (no share).
   */
  readonly maxShare?: number;
  /** Where rejections are reported. */
  readonly events?: ResilienceEvents;
}

/** The reason of a bulkhead rejection, for `reasonOf(err)`. */
export const bulkheadFullReason = "BULKHEAD_FULL";

/**
 * Whose call this is, for `maxShare`: a context value the caller sets on the
 * call (`contextValues` of the call options). Default: nobody in particular.
 */
export const bulkheadParty = createContextKey<string | undefined>(undefined, { description: "bulkhead party" });

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
  const share = options.maxShare ?? 1;
  if (!(share > 0 && share <= 1)) {
    throw new RangeError(`bulkhead "${target}": maxShare must be a fraction in (0, 1], got ${share}`);
  }
  const partyLimit = Math.max(1, Math.floor(limit * share));
  let inFlight = 0;
  // Only parties with calls in flight have an entry: the map is bounded by the cap.
  const byParty = new Map<string, number>();
  return (next) => async (req) => {
    if (req.stream) {
      return next(req);
    }
    const party = partyLimit < limit ? req.contextValues.get(bulkheadParty) : undefined;
    const partyInFlight = party === undefined ? 0 : (byParty.get(party) ?? 0);
    if (inFlight >= limit) {
      throw rejection(target, events, inFlight, limit, `bulkhead "${target}" is full (${inFlight} calls in flight)`);
    }
    if (party !== undefined && partyInFlight >= partyLimit) {
      throw rejection(target, events, partyInFlight, partyLimit, `bulkhead "${target}": this caller already has its share of calls in flight (${partyInFlight})`);
    }
    inFlight++;
    if (party !== undefined) {
      byParty.set(party, partyInFlight + 1);
    }
    try {
      return await next(req);
    } finally {
      inFlight--;
      if (party !== undefined) {
        const left = (byParty.get(party) ?? 1) - 1;
        if (left === 0) {
          byParty.delete(party);
        } else {
          byParty.set(party, left);
        }
      }
    }
  };
}

function rejection(target: string, events: ResilienceEvents | undefined, inFlight: number, limit: number, message: string): ConnectError {
  events?.emit("bulkheadRejected", { target, inFlight, limit });
  const err = failure(Code.ResourceExhausted, bulkheadFullReason, message);
  rejections.add(err);
  return err;
}
