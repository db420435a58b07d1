import { expect } from "chai";
import { OutlierDetector } from "./outlier-detector.js";

describe("OutlierDetector", () => {
  let now: number;
  let detector: OutlierDetector;
  beforeEach(() => {
    now = 0;
    detector = new OutlierDetector({ consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 3000, now: () => now });
    detector.setEndpoints(["a", "b", "c"]);
  });

  function fail(endpoint: string, times: number): ReturnType<OutlierDetector["recordFailure"]> {
    let last;
    for (let i = 0; i < times; i++) {
      last = detector.recordFailure(endpoint);
    }
    return last;
  }

  it("ejects after the configured consecutive failures, for the base period", () => {
    expect(fail("a", 2)).to.equal(undefined);
    expect(detector.eligible()).to.deep.equal(["a", "b", "c"]);
    expect(fail("a", 1)).to.deep.equal({ endpoint: "a", ejectionMs: 1000, consecutiveFailures: 3 });
    expect(detector.eligible()).to.deep.equal(["b", "c"]);
    now = 999;
    expect(detector.isEjected("a")).to.equal(true);
    now = 1000;
    expect(detector.eligible()).to.deep.equal(["a", "b", "c"]);
  });

  it("counts only consecutive failures: a success resets the count", () => {
    fail("a", 2);
    expect(detector.recordSuccess("a")).to.equal(false);
    expect(fail("a", 2)).to.equal(undefined);
    expect(detector.isEjected("a")).to.equal(false);
  });

  it("re-ejects a failing probe at once, for twice as long, capped at the maximum", () => {
    fail("a", 3);
    now = 1000;
    expect(detector.recordFailure("a")).to.deep.include({ ejectionMs: 2000 });
    now = 3000;
    expect(detector.recordFailure("a")).to.deep.include({ ejectionMs: 3000 });
    now = 6000;
    expect(detector.recordFailure("a")).to.deep.include({ ejectionMs: 3000 });
  });

  it("restores an endpoint whose probe succeeds and resets its ejection count", () => {
    fail("a", 3);
    now = 1000;
    fail("a", 1);
    now = 3000;
    expect(detector.recordSuccess("a")).to.equal(true);
    expect(detector.recordSuccess("a")).to.equal(false);
    expect(fail("a", 2)).to.equal(undefined);
    expect(fail("a", 1)).to.deep.include({ ejectionMs: 1000 });
  });

  it("ignores outcomes of an endpoint while it is ejected", () => {
    fail("a", 3);
    expect(detector.recordFailure("a")).to.equal(undefined);
    expect(detector.recordSuccess("a")).to.equal(false);
    now = 1000;
    expect(detector.recordSuccess("a")).to.equal(true);
  });

  it("never ejects the last endpoint that is not ejected", () => {
    fail("a", 3);
    fail("b", 3);
    expect(fail("c", 10)).to.equal(undefined);
    expect(detector.eligible()).to.deep.equal(["c"]);
  });

  it("keeps the state of endpoints that stay and forgets those that go", () => {
    fail("a", 3);
    fail("b", 2);
    detector.setEndpoints(["a", "b", "d"]);
    expect(detector.eligible()).to.deep.equal(["b", "d"]);
    expect(fail("b", 1)).to.deep.include({ endpoint: "b" });
    expect(detector.recordFailure("c")).to.equal(undefined);
  });

  it("rejects options that make no sense", () => {
    expect(() => new OutlierDetector({ consecutiveFailures: 0 })).to.throw();
    expect(() => new OutlierDetector({ baseEjectionMs: 2000, maxEjectionMs: 1000 })).to.throw();
  });
});
