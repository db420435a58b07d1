/** Token buckets per key (a subject, or an IP when anonymous). */
export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  readonly ratePerSecond: number;
  /** Largest burst per key. */
  readonly burst: number;
  /** Keys idle longer than this are forgotten (bounded memory). Default: 10 min. */
  readonly idleMs?: number;
  /** The clock. Default: Date.now. */
  readonly now?: () => number;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** RateLimit-* and, when refused, Retry-After headers (draft-ietf-httpapi-ratelimit-headers). */
  readonly headers: Record<string, string>;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per key, refilled continuously: `burst` requests at once,
 * `ratePerSecond` sustained. O(1) per request; idle keys are swept.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError("rate limit: ratePerSecond must be > 0 and burst >= 1");
    }
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  take(key: string): RateLimitDecision {
    const now = this.now();
    this.sweep(now);
    const { ratePerSecond, burst } = this.options;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: burst, updatedAt: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSecond);
    bucket.updatedAt = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) {
      bucket.tokens -= 1;
    }
    const secondsToOne = Math.max(0, Math.ceil((1 - bucket.tokens) / ratePerSecond));
    const secondsToFull = Math.ceil((burst - bucket.tokens) / ratePerSecond);
    const headers: Record<string, string> = {
      "ratelimit-limit": String(burst),
      "ratelimit-remaining": String(Math.floor(bucket.tokens)),
      "ratelimit-reset": String(secondsToFull),
    };
    if (!allowed) {
      headers["retry-after"] = String(Math.max(1, secondsToOne));
    }
    return { allowed, headers };
  }

  private sweep(now: number): void {
    const idleMs = this.options.idleMs ?? 600_000;
    if (now - this.lastSweep < idleMs) {
      return;
    }
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt > idleMs) {
        this.buckets.delete(key);
      }
    }
  }
}
