import { expect } from "chai";
import { arrivalTimes, offeredRequests, parseStages } from "./load-schedule.js";

function perSecond(times: number[]): number[] {
  const counts: number[] = [];
  for (const t of times) {
    const s = Math.floor(t / 1000);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return Array.from(counts, (c) => c ?? 0);
}

describe("load schedule (intended send times)", () => {
  it("a constant rate puts exactly that many requests in every second, the first at the start", () => {
    const times = [...arrivalTimes(parseStages("10s@20"))];
    expect(times).to.have.length(200);
    expect(times[0]).to.equal(0);
    expect(perSecond(times)).to.deep.equal(Array(10).fill(20));
    expect(Math.max(...times)).to.be.below(10_000);
  });

  it("a ramp offers its area, rising second by second, and every time is inside its stage", () => {
    const stages = parseStages("4s@0..40,2s@40");
    const times = [...arrivalTimes(stages)];
    expect(times).to.have.length(offeredRequests(stages));
    const counts = perSecond(times);
    expect(counts.slice(0, 4)).to.deep.equal([5, 15, 25, 35]);
    expect(counts.slice(4)).to.deep.equal([40, 40]);
    expect([...times].sort((a, b) => a - b)).to.deep.equal(times);
  });
});
