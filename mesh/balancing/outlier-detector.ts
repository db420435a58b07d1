export interface OutlierDetectorOptions {
  /** Consecutive transport failures that eject an endpoint. Default: 5, as Envoy's consecutive_5xx. */
  readonly consecutiveFailures?: number;
  /** The first ejection's length; each further one doubles it. Default: 1 s. */
  readonly baseEjectionMs?: number;
  /** The longest ejection. Default: 30 s, so a recovered endpoint is back within half a minute. */
  readonly maxEjectionMs?: number;
  /** The clock, in milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
}

/** What `recordFailure` reports when it ejects an endpoint. */
export interface Ejection {
  readonly endpoint: string;
  readonly ejectionMs: number;
  readonly consecutiveFailures: number;
}

interface EndpointState {
  consecutiveFailures: number;
  /** Ejections since the endpoint was last healthy; sets the next ejection's length. */
  ejections: number;
  /** When the current ejection ends; undefined while not ejected. */
  ejectedUntil: number | undefined;
}

/**
 * Outlier detection by consecutive transport failures (Envoy's model).
 *
 * An endpoint is healthy, ejected, or probing. A healthy endpoint is ejected
 * after `consecutiveFailures` failures in a row, for
 * `baseEjectionMs * 2^(ejections-1)` capped at `maxEjectionMs`. When the
 * ejection ends it is probing: eligible again, but one failure ejects it once
 * more for the longer period, and one success makes it healthy and resets both
 * counters. The last endpoint that is not ejected is never ejected (Envoy's
 * max_ejection_percent, kept to "at least one"): with nowhere else to send a
 * call, a failing endpoint is better than none.
 *
 * Pure state: callers report outcomes and act on what the methods return.
 */
export class OutlierDetector {
  private readonly states = new Map<string, EndpointState>();
  private readonly threshold: number;
  private readonly baseEjectionMs: number;
  private readonly maxEjectionMs: number;
  private readonly now: () => number;

  constructor(options: OutlierDetectorOptions = {}) {
    this.threshold = options.consecutiveFailures ?? 5;
    this.baseEjectionMs = options.baseEjectionMs ?? 1000;
    this.maxEjectionMs = options.maxEjectionMs ?? 30_000;
    this.now = options.now ?? Date.now;
    if (!(this.threshold >= 1) || !(this.baseEjectionMs > 0) || !(this.maxEjectionMs >= this.baseEjectionMs)) {
      throw new Error("OutlierDetector: need consecutiveFailures >= 1 and 0 < baseEjectionMs <= maxEjectionMs");
    }
  }

  /** Sets the endpoints to track; those still present keep their state. */
  setEndpoints(endpoints: readonly string[]): void {
    const keep = new Set(endpoints);
    for (const endpoint of this.states.keys()) {
      if (!keep.has(endpoint)) {
        this.states.delete(endpoint);
      }
    }
    for (const endpoint of endpoints) {
      if (!this.states.has(endpoint)) {
        this.states.set(endpoint, { consecutiveFailures: 0, ejections: 0, ejectedUntil: undefined });
      }
    }
  }

  /** The endpoints not ejected now, in the order given to `setEndpoints`. */
  eligible(): string[] {
    const now = this.now();
    const result: string[] = [];
    for (const [endpoint, state] of this.states) {
      if (!this.isOut(state, now)) {
        result.push(endpoint);
      }
    }
    return result;
  }

  isEjected(endpoint: string): boolean {
    const state = this.states.get(endpoint);
    return state !== undefined && this.isOut(state, this.now());
  }

  /** Records a transport failure; returns the ejection if this one caused it. */
  recordFailure(endpoint: string): Ejection | undefined {
    const state = this.states.get(endpoint);
    const now = this.now();
    if (state === undefined || this.isOut(state, now)) {
      // Unknown (dropped on re-resolve) or already out: a call that started
      // before the ejection says nothing new.
      return undefined;
    }
    state.consecutiveFailures++;
    const probing = state.ejections > 0;
    if (!probing && state.consecutiveFailures < this.threshold) {
      return undefined;
    }
    if (!this.hasOtherEligible(endpoint, now)) {
      return undefined;
    }
    state.ejections++;
    const ejectionMs = Math.min(this.baseEjectionMs * 2 ** (state.ejections - 1), this.maxEjectionMs);
    state.ejectedUntil = now + ejectionMs;
    const consecutiveFailures = state.consecutiveFailures;
    state.consecutiveFailures = 0;
    return { endpoint, ejectionMs, consecutiveFailures };
  }

  /**
   * Records a call the endpoint handled. Returns true when this success ends
   * a probe, i.e. the endpoint is restored after an ejection.
   */
  recordSuccess(endpoint: string): boolean {
    const state = this.states.get(endpoint);
    if (state === undefined || this.isOut(state, this.now())) {
      return false;
    }
    const restored = state.ejections > 0;
    state.consecutiveFailures = 0;
    state.ejections = 0;
    return restored;
  }

  private isOut(state: EndpointState, now: number): boolean {
    if (state.ejectedUntil === undefined) {
      return false;
    }
    if (now < state.ejectedUntil) {
      return true;
    }
    state.ejectedUntil = undefined;
    return false;
  }

  private hasOtherEligible(endpoint: string, now: number): boolean {
    for (const [other, state] of this.states) {
      if (other !== endpoint && !this.isOut(state, now)) {
        return true;
      }
    }
    return false;
  }
}
