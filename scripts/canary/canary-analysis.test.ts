import { expect } from "chai";
import { parsePrometheusText } from "../../gateway/mesh-page/prometheus-text.js";
import { defaultThresholds, judge, readRouted, versionWindow } from "./canary-analysis.js";

/** A gateway scrape with `ok`/`fail` calls per version and their latencies all in one bucket (le seconds). */
function scrape(calls: Record<string, { ok: number; unavailable: number; declined: number; le: number }>): string {
  const lines: string[] = [];
  for (const [version, c] of Object.entries(calls)) {
    const labels = `target="orders",service="meshwork.orders.v1.OrderService",method="PlaceOrder",version="${version}"`;
    lines.push(`meshwork_routed_requests_total{${labels},code="ok"} ${c.ok}`);
    lines.push(`meshwork_routed_requests_total{${labels},code="unavailable"} ${c.unavailable}`);
    lines.push(`meshwork_routed_requests_total{${labels},code="failed_precondition"} ${c.declined}`);
    const total = c.ok + c.unavailable + c.declined;
    for (const le of [0.01, 0.1, 1]) {
      lines.push(`meshwork_routed_request_duration_seconds_bucket{${labels},le="${le}"} ${le >= c.le ? total : 0}`);
    }
    lines.push(`meshwork_routed_request_duration_seconds_bucket{${labels},le="+Inf"} ${total}`);
    // Another target's series are not this target's.
    lines.push(`meshwork_routed_requests_total{target="inventory",service="x",method="y",version="${version}",code="unavailable"} 999`);
  }
  return lines.join("\n");
}

describe("canary analysis (scripts/canary/canary-analysis.ts)", () => {
  const read = (text: string) => readRouted([parsePrometheusText(text).samples], "orders");

  it("reads a window's calls, server failures (not declines) and p99 per version from two scrapes", () => {
    const before = read(scrape({ stable: { ok: 100, unavailable: 0, declined: 10, le: 0.01 }, canary: { ok: 5, unavailable: 0, declined: 0, le: 0.1 } }));
    const after = read(scrape({ stable: { ok: 300, unavailable: 1, declined: 30, le: 0.01 }, canary: { ok: 85, unavailable: 20, declined: 5, le: 0.1 } }));
    const canary = versionWindow(before, after, "canary");
    expect(canary.calls).to.equal(105);
    expect(canary.failures).to.equal(20);
    expect(canary.p99Ms).to.be.within(10, 100);
    expect(versionWindow(before, after, "stable")).to.include({ calls: 221, failures: 1 });
  });

  it("fails a canary whose error rate exceeds stable's by more than the allowance, naming both", () => {
    const verdict = judge({ calls: 100, failures: 20, p99Ms: 5 }, { calls: 1000, failures: 10, p99Ms: 5 });
    expect(verdict).to.include({ passed: false, conclusive: true });
    expect(verdict.reason).to.equal("canary error rate 20.0% (20/100) > stable 1.0% + 1.0%");
  });

  it("fails a canary whose p99 is over 1.5x stable's (and over the slack) once both have enough calls, and not before", () => {
    const slow = judge({ calls: 200, failures: 0, p99Ms: 400 }, { calls: 200, failures: 0, p99Ms: 100 });
    expect(slow.passed).to.equal(false);
    expect(slow.reason).to.match(/canary p99 400\.0 ms > 150\.0 ms/);
    const few = judge({ calls: 50, failures: 0, p99Ms: 400 }, { calls: 200, failures: 0, p99Ms: 100 });
    expect(few).to.include({ passed: true, conclusive: true });
    expect(few.reason).to.match(/p99 not compared: fewer than 100 calls/);
    // A sub-millisecond p99 doubling is noise: within the 25 ms slack.
    expect(judge({ calls: 200, failures: 0, p99Ms: 1.2 }, { calls: 200, failures: 0, p99Ms: 0.5 }).passed).to.equal(true);
  });

  it("with too few canary calls, fails on any failure and otherwise passes inconclusively", () => {
    expect(judge({ calls: 3, failures: 1, p99Ms: 1 }, { calls: 500, failures: 0, p99Ms: 1 })).to.deep.equal({
      passed: false,
      conclusive: true,
      reason: "canary failed 1 of only 3 calls",
    });
    expect(judge({ calls: 3, failures: 0, p99Ms: 1 }, { calls: 500, failures: 0, p99Ms: 1 })).to.include({ passed: true, conclusive: false });
    expect(defaultThresholds.minCalls).to.equal(20);
  });
});
