import { expect } from "chai";
import { parsePrometheusText } from "../../gateway/mesh-page/prometheus-text.js";
import type { Slo } from "../../platform/catalogue/index.js";
import { defaultThresholds, judge, judgeReach, judgeSlos, judgeStep, readRouted, sloBurns, versionWindow, type SloBurn } from "./canary-analysis.js";

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

/** One method's series of one version: `ok` calls under 0.1 s, `slow` ok calls between 1 s and 2.5 s, and failures by code. */
function methodSeries(version: string, method: string, c: { ok: number; slow?: number; codes?: Record<string, number> }): string[] {
  const labels = `target="orders",service="meshwork.orders.v1.OrderService",method="${method}",version="${version}"`;
  const slow = c.slow ?? 0;
  const failed = Object.values(c.codes ?? {}).reduce((a, b) => a + b, 0);
  const lines = [`meshwork_routed_requests_total{${labels},code="ok"} ${c.ok + slow}`];
  for (const [code, n] of Object.entries(c.codes ?? {})) {
    lines.push(`meshwork_routed_requests_total{${labels},code="${code}"} ${n}`);
  }
  // Failures answer fast; prom-client writes the bound 1 as "1".
  for (const le of ["0.1", "1", "2.5"]) {
    lines.push(`meshwork_routed_request_duration_seconds_bucket{${labels},le="${le}"} ${le === "2.5" ? c.ok + slow + failed : c.ok + failed}`);
  }
  lines.push(`meshwork_routed_request_duration_seconds_bucket{${labels},le="+Inf"} ${c.ok + slow + failed}`);
  return lines;
}

const placeOrder = "meshwork.orders.v1.OrderService/PlaceOrder";
/** As services/orders/service.yaml declares them, with a gateway route's SLO that a routed target does not have. */
const ordersSlos: Slo[] = [
  { name: "place-order-availability", description: "d", objective: 99.9, sli: { kind: "availability", subject: { method: placeOrder } } },
  { name: "place-order-latency", description: "d", objective: 99, sli: { kind: "latency", subject: { method: placeOrder }, belowSeconds: 1 } },
  { name: "route-availability", description: "d", objective: 99.9, sli: { kind: "availability", subject: { route: { httpMethod: "POST", template: "/v1/orders" } } } },
];

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

  it("after its windows, fails a canary that got under a quarter of its weight's share when that share is at least minCalls, and leaves a quiet step alone", () => {
    const w = (calls: number) => ({ calls, failures: 0, p99Ms: 1 });
    // 25% of 400 calls is 100: 0 or 24 is not its weight reaching it; 25 is a quarter.
    expect(judgeReach(w(0), w(400), 25)).to.deep.equal({
      passed: false,
      conclusive: true,
      reason: "canary got 0 of 400 calls where its weight of 25% gives about 100: its weight does not reach it (routing, or too few sticky cohorts)",
    });
    expect(judgeReach(w(19), w(381), 25)?.passed).to.equal(false);
    expect(judgeReach(w(25), w(375), 25)).to.equal(undefined);
    // 1% of 1,500 is 15, under minCalls: too little traffic to expect the canary judged.
    expect(judgeReach(w(0), w(1500), 1)).to.equal(undefined);
    // Enough canary calls to judge: not this function's case.
    expect(judgeReach(w(20), w(5000), 50)).to.equal(undefined);
  });

  describe("the canary's own SLO burn (platform/slo's fast-burn factor)", () => {
    const read2 = (lines: string[]) => readRouted([parsePrometheusText(lines.join("\n")).samples], "orders");
    const burn = (b: Partial<SloBurn>): SloBurn => ({ slo: "place-order-availability", kind: "availability", objective: 99.9, calls: 100, bad: 0, burnRate: 0, ...b });

    it("reads each SLO's calls of its method only, with the platform's server-error codes and the objective's latency bound, skipping route SLOs", () => {
      const before = read2([...methodSeries("canary", "PlaceOrder", { ok: 10 }), ...methodSeries("canary", "GetOrder", { ok: 10 })]);
      const after = read2([
        // 200 more PlaceOrder calls: 20 unavailable, 6 internal, 4 resource_exhausted (a caller over its limit, not a
        // server error to an SLO), 10 declined (failed_precondition), 10 slower than the second the latency SLO allows.
        ...methodSeries("canary", "PlaceOrder", {
          ok: 160,
          slow: 10,
          codes: { unavailable: 20, internal: 6, resource_exhausted: 4, failed_precondition: 10 },
        }),
        // GetOrder failing everything is not PlaceOrder's SLO's business.
        ...methodSeries("canary", "GetOrder", { ok: 10, codes: { unavailable: 50 } }),
        // Nor is the stable version's.
        ...methodSeries("stable", "PlaceOrder", { ok: 0, codes: { unavailable: 100 } }),
      ]);
      const burns = sloBurns(before, after, "canary", ordersSlos);
      expect(burns.map((b) => b.slo)).to.deep.equal(["place-order-availability", "place-order-latency"]);
      expect(burns[0]).to.include({ kind: "availability", calls: 200, bad: 26, objective: 99.9 });
      // 26/200 = 13% of calls against a 0.1% budget.
      expect(burns[0]?.burnRate).to.be.closeTo(130, 1e-6);
      expect(burns[1]).to.include({ kind: "latency", calls: 200, bad: 10 });
      // 5% slow against a 1% budget.
      expect(burns[1]?.burnRate).to.be.closeTo(5, 1e-6);
      expect(sloBurns(after, after, "canary", ordersSlos).map((b) => b.burnRate)).to.deep.equal([undefined, undefined]);
    });

    it("rolls back a canary failing as often as stable: the comparison passes, the SLO burns, and the reason says so", () => {
      const canary = { calls: 100, failures: 20, p99Ms: 5 };
      const stable = { calls: 1000, failures: 200, p99Ms: 5 };
      expect(judge(canary, stable).passed).to.equal(true);
      const verdict = judgeStep(canary, stable, [burn({ calls: 100, bad: 20, burnRate: 200 })]);
      expect(verdict).to.deep.equal({
        passed: false,
        conclusive: true,
        reason: "fast-burning SLO place-order-availability: burn rate 200.0 over the window (limit 14.4); 20 of 100 canary calls server errors, objective 99.9%",
      });
      expect(defaultThresholds.maxSloBurnRate).to.equal(14.4);
    });

    it("names the fastest of several burning SLOs, latency in its own words", () => {
      const verdict = judgeSlos([
        burn({ burnRate: 20, bad: 2 }),
        burn({ slo: "place-order-latency", kind: "latency", objective: 99, calls: 200, bad: 60, burnRate: 30 }),
      ]);
      expect(verdict?.reason).to.equal(
        "fast-burning SLO place-order-latency: burn rate 30.0 over the window (limit 14.4); 60 of 200 canary calls too slow, objective 99%",
      );
    });

    it("passes a burn at or under the limit, naming the fastest, and judges none on too few calls", () => {
      const canary = { calls: 100, failures: 1, p99Ms: 5 };
      const stable = { calls: 1000, failures: 10, p99Ms: 5 };
      const under = judgeStep(canary, stable, [burn({ bad: 1, burnRate: 10 }), burn({ slo: "get-order-availability", burnRate: 14.4 })]);
      expect(under).to.include({ passed: true, conclusive: true });
      expect(under.reason).to.match(/; fastest SLO burn 14\.4 \(get-order-availability, limit 14\.4\)$/);
      // Fewer calls of the SLO's method than minCalls (20), or than minLatencyCalls (100) for latency: not judged.
      expect(judgeSlos([burn({ calls: 19, bad: 19, burnRate: 1000 })])).to.equal(undefined);
      expect(judgeSlos([burn({ kind: "latency", objective: 99, calls: 99, bad: 99, burnRate: 100 })])).to.equal(undefined);
      expect(judgeSlos([burn({ calls: 50, burnRate: undefined })])).to.equal(undefined);
      expect(judgeStep(canary, stable, [])).to.deep.equal(judge(canary, stable));
      // A stricter operator's limit.
      expect(judgeSlos([burn({ bad: 1, burnRate: 10 })], { ...defaultThresholds, maxSloBurnRate: 6 })?.reason).to.match(/burn rate 10\.0 over the window \(limit 6\)/);
    });

    it("keeps the comparison's reason when the canary is also worse than stable", () => {
      const verdict = judgeStep({ calls: 100, failures: 20, p99Ms: 5 }, { calls: 1000, failures: 0, p99Ms: 5 }, [burn({ bad: 20, burnRate: 200 })]);
      expect(verdict.reason).to.match(/^canary error rate 20\.0%/);
    });
  });
});
