import { LRUCache } from "lru-cache";

/** Token buckets per key (an address, a subject). */
export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  readonly ratePerSecond: number;
  /** Largest burst per key. */
  readonly burst: number;
  /**
   * Most keys remembered at once; the least recently used is forgotten first,
   * so memory stays bounded however many addresses a flood comes from.
   * A forgotten key starts again with a full bucket, as an idle one would.
   * Default: 100,000 (a bucket costs about 200 bytes with its key: ~20 MB).
   */
  readonly maxKeys?: number;
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
 * `ratePerSecond` sustained. O(1) per request; at most `maxKeys` buckets
 * (an LRU, lru-cache).
 */
export class RateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError("rate limit: ratePerSecond must be > 0 and burst >= 1");
    }
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new RangeError(`rate limit: maxKeys must be a whole number >= 1, got ${maxKeys}`);
    }
    this.buckets = new LRUCache({ max: maxKeys });
    this.now = options.now ?? Date.now;
  }

  /** Buckets held now (never more than maxKeys). */
  get size(): number {
    return this.buckets.size;
  }

  take(key: string): RateLimitDecision {
    const now = this.now();
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
}
