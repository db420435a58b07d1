import { EventEmitter } from "node:events";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import CircuitBreaker from "opossum";
import { isDependencyUnavailable } from "../dependency-unavailable.js";
import { isBulkheadRejection } from "./bulkhead.js";
import { callerShortenedDeadline } from "./deadline.js";
import type { BreakerState, ResilienceEvents } from "./resilience-events.js";

// Place in the client chain, outermost first:
//   deadline -> circuit breaker -> retry -> bulkhead -> balancer -> transport
// The breaker sits outside retry so one logical call counts once, whatever
// number of attempts retry made for it, and an open breaker stops retries too.

export interface CircuitBreakerOptions {
  /** The logical target name (e.g. "payments"), used in events and errors. */
  readonly target: string;
  /** Where state changes and rejections are reported. */
  readonly events?: ResilienceEvents;
  /** Failure rate in the window, in percent, above which the breaker opens. Default: 50. */
  readonly errorThresholdPercentage?: number;
  /**
   * Calls in the window before the rate is judged at all, so a single failure
   * of a quiet method does not open it. Default: 10.
   */
  readonly volumeThreshold?: number;
  /** How long the breaker stays open before it admits a probe. Default: 5000 ms. */
  readonly resetTimeoutMs?: number;
  /** The length of the rolling statistics window. Default: 10000 ms. */
  readonly rollingCountTimeoutMs?: number;
  /** How many buckets the window is split into. Default: 10. */
  readonly rollingCountBuckets?: number;
}

/**
 * The codes that say the upstream is unwell. Client mistakes (InvalidArgument,
 * NotFound, FailedPrecondition, ...) are answers from a healthy server and
 * never open a breaker (docs/architecture.md, "Error model"). Neither does a local
 * bulkhead's ResourceExhausted: it is not the upstream's answer. Nor does an
 * Unavailable the upstream answered about a dependency of its own
 * (mesh/dependency-unavailable.ts): the upstream is up and answering, and a
 * caller could otherwise open the breaker every caller shares with requests
 * that only reach the broken dependency.
 */
const serverFailureCodes: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
  Code.ResourceExhausted,
]);

type Next = Parameters<Interceptor>[0];
type Request = Parameters<Next>[0];
type Response = Awaited<ReturnType<Next>>;
type Breaker = CircuitBreaker<[Request, Next], Response>;

/** One method's breaker as it is now, for readiness checks and status pages. */
export interface BreakerSnapshot {
  /** The logical target name, e.g. "payments". */
  readonly target: string;
  /** The RPC's full name, "package.Service/Method". */
  readonly method: string;
  readonly state: BreakerState;
  /** Calls fired through it within its rolling window (rejections included). */
  readonly recentCalls: number;
}

/** A target's breakers and a read-only view of them. */
export interface CircuitBreakers {
  readonly interceptor: Interceptor;
  /** Every breaker made so far (one per method already called), in creation order. */
  readonly snapshot: () => BreakerSnapshot[];
}

/**
 * A circuit breaker per method of one target (docs/architecture.md, "Error
 * model"): a method that keeps failing on the server side fails fast with Unavailable until, after
 * `resetTimeoutMs`, a single probe call is let through (opossum's half-open
 * state admits exactly one call); its success closes the breaker, its failure
 * opens it again. Breakers are created on a method's first call.
 *
 * A call whose caller shortened its deadline below the method's timeout
 * (`callerShortenedDeadline`, set by the deadline interceptor outside) cannot
 * open a closed breaker by timing out: its DeadlineExceeded is not counted at
 * all, its other outcomes are counted as any call's. Once the breaker is not
 * closed such a call is treated as any other (refused while open, counted in
 * full as the half-open probe): most calls carry a budget shorter than their
 * method's timeout (a saga step within the gateway's deadline), so refusing
 * them the probe would leave the breaker half-open for good, and a probe that
 * times out only reopens a breaker that was already open.
 */
export function circuitBreakerInterceptor(options: CircuitBreakerOptions): Interceptor {
  return circuitBreakers(options).interceptor;
}

/** The breakers of circuitBreakerInterceptor, with a way to read their states. */
export function circuitBreakers(options: CircuitBreakerOptions): CircuitBreakers {
  const { target, events } = options;
  const rollingCountTimeout = options.rollingCountTimeoutMs ?? 10_000;
  const rollingCountBuckets = options.rollingCountBuckets ?? 10;
  const breakers = new Map<string, Breaker>();

  // opossum's Status starts a setInterval per breaker to rotate its window
  // buckets (and another for snapshots, disabled below). One shared, unref'd
  // interval per interceptor rotates every method's window instead, so the
  // timer count does not grow with the number of methods. It is created with
  // the first breaker and lives as long as the process; being unref'd, it never
  // keeps the process alive.
  let rotate: EventEmitter | undefined;
  const rotation = (): EventEmitter => {
    if (rotate === undefined) {
      const emitter = new EventEmitter();
      emitter.setMaxListeners(0);
      setInterval(() => emitter.emit("rotate"), Math.max(1, Math.floor(rollingCountTimeout / rollingCountBuckets))).unref();
      rotate = emitter;
    }
    return rotate;
  };

  const breakerFor = (method: string): Breaker => {
    let breaker = breakers.get(method);
    if (breaker !== undefined) {
      return breaker;
    }
    breaker = new CircuitBreaker<[Request, Next], Response>((req, next) => next(req), {
      name: `${target} ${method}`,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 10,
      resetTimeout: options.resetTimeoutMs ?? 5_000,
      rollingCountTimeout,
      rollingCountBuckets,
      rotateBucketController: rotation(),
      // A filtered error is not a failure: opossum rejects the call with the
      // error unchanged but records it as a fire and a success. So a client
      // error weighs like a success in the failure rate, and a client error
      // on the half-open probe closes the breaker: either way the server
      // answered. opossum has no way to leave a call out of its counts.
      errorFilter: (err: unknown) =>
        !serverFailureCodes.has(ConnectError.from(err).code) || isBulkheadRejection(err) || isDependencyUnavailable(err),
      // Deadlines are the deadline interceptor's job. opossum's timeout would
      // arm a setTimeout per call and abandon, not cancel, the call.
      timeout: false,
      // With percentiles on, every read of `stats` (which opossum does on each
      // failure) concatenates and sorts every latency in the window.
      rollingPercentilesEnabled: false,
      // Snapshots are a second setInterval per breaker, emitting stats nobody reads.
      enableSnapshots: false,
      // No abortController: opossum would abort one controller shared by all
      // calls of the breaker; calls are cancelled by their own signal instead.
    });
    let state: BreakerState = "closed";
    const changeTo = (to: BreakerState) => () => {
      const from = state;
      state = to;
      events?.emit("breakerStateChange", { target, method, from, to });
    };
    breaker.on("open", changeTo("open"));
    breaker.on("halfOpen", changeTo("half-open"));
    breaker.on("close", changeTo("closed"));
    breakers.set(method, breaker);
    return breaker;
  };

  const rejected = (breaker: Breaker, method: string, cause?: unknown): ConnectError => {
    events?.emit("breakerRejected", { target, method });
    return new ConnectError(`circuit breaker "${breaker.name}" is open`, Code.Unavailable, undefined, undefined, cause);
  };

  const interceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const breaker = breakerFor(method);
    if (breaker.closed && req.contextValues.get(callerShortenedDeadline)) {
      return shortenedCall(breaker, req, next);
    }
    try {
      return await breaker.fire(req, next);
    } catch (err) {
      if ((err as { code?: unknown }).code === "EOPENBREAKER") {
        throw rejected(breaker, method, err);
      }
      throw err;
    }
  };
  return {
    interceptor,
    snapshot: () =>
      [...breakers].map(([method, breaker]) => ({
        target,
        method,
        state: breaker.opened ? "open" : breaker.halfOpen ? "half-open" : "closed",
        // opossum counts a fire for every call, the ones it rejects too.
        recentCalls: breaker.stats.fires,
      })),
  };
}

/**
 * A call with a caller-shortened deadline on a closed breaker (see circuitBreakers). opossum
 * counts every call it runs, so the call runs beside it; once its outcome is
 * known, any outcome but DeadlineExceeded is recorded by firing an action that
 * settles at once with it (the error filter then weighs it as usual).
 */
async function shortenedCall(breaker: Breaker, req: Request, next: Next): Promise<Response> {
  const record = (outcome: () => Promise<Response>): void => {
    // Recorded after the fact: if the breaker opened meanwhile, the record is simply refused.
    breaker.fire(req, outcome).catch(() => undefined);
  };
  try {
    const res = await next(req);
    record(() => Promise.resolve(res));
    return res;
  } catch (err) {
    if (ConnectError.from(err).code !== Code.DeadlineExceeded) {
      record(() => Promise.reject(err));
    }
    throw err;
  }
}
