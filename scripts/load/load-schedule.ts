/**
 * One stage of an open-loop schedule: `durationMs` at a rate going linearly
 * from `fromRate` to `toRate` requests per second (equal for a constant rate).
 */
export interface LoadStage {
  readonly durationMs: number;
  readonly fromRate: number;
  readonly toRate: number;
}

/**
 * Stages from their command-line form, comma-separated: "10s@100" holds 100/s
 * for 10 s; "5s@0..200" ramps from 0 to 200/s over 5 s; durations in s or ms.
 * E.g. "5s@10..100,20s@100,5s@100..0". Throws naming the stage it cannot read.
 */
export function parseStages(text: string): LoadStage[] {
  const stages = text.split(",").map((part) => {
    // eslint-disable-next-line security/detect-unsafe-regex -- linear: anchored, and each optional part starts with a character ("." then a digit, "..", "@") no other part can take
    const m = /^\s*(\d+(?:\.\d+)?)(ms|s)@(\d+(?:\.\d+)?)(?:\.\.(\d+(?:\.\d+)?))?\s*$/.exec(part);
    if (m === null) {
      throw new Error(`cannot read stage "${part}": expected <duration>(s|ms)@<rate>[..<rate>], e.g. 10s@100 or 5s@0..200`);
    }
    const durationMs = Number(m[1]) * (m[2] === "s" ? 1000 : 1);
    const fromRate = Number(m[3]);
    const toRate = m[4] === undefined ? fromRate : Number(m[4]);
    if (durationMs <= 0) {
      throw new Error(`stage "${part}": the duration must be above 0`);
    }
    return { durationMs, fromRate, toRate };
  });
  return stages;
}

/** The whole schedule's length in ms. */
export function scheduleMs(stages: readonly LoadStage[]): number {
  return stages.reduce((sum, s) => sum + s.durationMs, 0);
}

/** How many requests the schedule offers (the integral of its rate). */
export function offeredRequests(stages: readonly LoadStage[]): number {
  return stages.reduce((sum, s) => sum + ((s.fromRate + s.toRate) / 2) * (s.durationMs / 1000), 0);
}

/**
 * The intended send times (ms from the start) of an open-loop schedule: the
 * n-th request, counting from 0, is due when the integral of the rate reaches
 * n (the first at the start, as wrk2 sends), so each second of a constant
 * rate r holds exactly r requests by intended time, a ramp
 * offers exactly its area and a constant rate sends at even intervals. The
 * times do not depend on how fast anything answers: that is what keeps the
 * generator open-loop.
 */
export function* arrivalTimes(stages: readonly LoadStage[]): Generator<number> {
  let offsetMs = 0;
  let before = 0; // the schedule's area (requests) before this stage
  let n = 0;
  for (const { durationMs, fromRate, toRate } of stages) {
    const seconds = durationMs / 1000;
    const slope = (toRate - fromRate) / seconds; // rate change per second
    const area = fromRate * seconds + (slope * seconds * seconds) / 2;
    for (; n < before + area; n++) {
      // The t in [0, seconds] where this stage's area reaches n - before.
      const k = n - before;
      const t =
        Math.abs(slope) < 1e-12 ? k / fromRate : (-fromRate + Math.sqrt(Math.max(0, fromRate * fromRate + 2 * slope * k))) / slope;
      yield offsetMs + Math.min(seconds, t) * 1000;
    }
    before += area;
    offsetMs += durationMs;
  }
}
