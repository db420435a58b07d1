import { expect } from "chai";
import { RateLimiter } from "./rate-limiter.js";

describe("RateLimiter", () => {
  it("gives each key its burst, then refills at the rate", () => {
    let now = 0;
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, now: () => now });
    expect([1, 2, 3, 4].map(() => limiter.take("a").allowed)).to.deep.equal([true, true, true, false]);
    const refused = limiter.take("a");
    expect(refused.headers["retry-after"]).to.equal("1");
    expect(limiter.take("b").allowed, "another key has its own bucket").to.equal(true);
    now += 500;
    expect(limiter.take("a").allowed).to.equal(true);
    expect(limiter.take("a").allowed).to.equal(false);
  });

  it("holds at most maxKeys buckets under 100,000 distinct addresses, forgetting the least recently used", () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 5_000 });
    let largest = 0;
    for (let i = 0; i < 100_000; i++) {
      // 198.18.0.0/15 holds 131,072 addresses.
      const address = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      limiter.take(address);
      largest = Math.max(largest, limiter.size);
    }
    expect(largest).to.equal(5_000);
    expect(limiter.size).to.equal(5_000);
  });

  it("keeps refusing a key that stays in use while a flood of other keys passes", () => {
    const now = 0;
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 100, now: () => now });
    expect(limiter.take("attacker").allowed).to.equal(true);
    for (let i = 0; i < 10_000; i++) {
      limiter.take(`flood-${i % 50}`);
      if (i % 10 === 0) {
        expect(limiter.take("attacker").allowed, `take ${i}`).to.equal(false);
      }
    }
  });

  it("refuses options it cannot honour", () => {
    expect(() => new RateLimiter({ ratePerSecond: 0, burst: 1 })).to.throw(RangeError);
    expect(() => new RateLimiter({ ratePerSecond: 1, burst: 0 })).to.throw(RangeError);
    expect(() => new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 0 })).to.throw(RangeError);
  });
});
