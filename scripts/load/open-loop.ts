import { arrivalTimes, offeredRequests, scheduleMs, type LoadStage } from "./load-schedule.js";
import { LatencyRecorder } from "./latency-recorder.js";

/** Sends request number `index`; resolves with "ok" or the outcome's code name (never rejects). */
export type SendRequest = (index: number) => Promise<string>;

export interface OpenLoopOptions {
  readonly stages: readonly LoadStage[];
  readonly send: SendRequest;
  /**
   * Requests allowed in flight at once. A request due beyond it is not sent
   * and counted as "not_sent" (with its latency still running from its
   * intended time to the moment it was given up): the generator never waits
   * for the system under test, which is what keeps it open-loop. Default: 10,000.
   */
  readonly maxInFlight?: number;
  /** Told every 250 ms how far the run is (requests due so far, completed so far). */
  readonly onProgress?: (due: number, completed: number) => void;
}

export interface OpenLoopResult {
  readonly recorder: LatencyRecorder;
  readonly offered: number;
  readonly durationMs: number;
  /** ms from the start until the last response arrived. */
  readonly elapsedMs: number;
}

/**
 * Runs an open-loop load: every request is sent at its intended time from
 * the schedule (constant rate or ramp), whatever happened to the ones before,
 * and its latency is measured from that intended time, not from when it
 * actually left. A server that stalls for a second therefore shows a second
 * of latency on every request that was due during the stall, as its users
 * would see, instead of one slow sample (coordinated omission, as wrk2 and
 * HdrHistogram's authors describe it).
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { stages, send } = options;
  const maxInFlight = options.maxInFlight ?? 10_000;
  const recorder = new LatencyRecorder();
  const times = arrivalTimes(stages);
  const start = performance.now();
  const now = () => performance.now() - start;
  let inFlight = 0;
  let index = 0;
  let due = 0;
  const pending: Promise<void>[] = [];
  let next = times.next();
  const progress = setInterval(() => options.onProgress?.(due, recorder.count), 250);
  try {
    while (!next.done) {
      const t = now();
      while (!next.done && next.value <= t) {
        const intended = next.value;
        const i = index++;
        due++;
        recorder.offered(intended);
        if (inFlight >= maxInFlight) {
          recorder.record(intended, now(), "not_sent");
        } else {
          inFlight++;
          pending.push(
            send(i).then(
              (code) => {
                inFlight--;
                recorder.record(intended, now(), code);
              },
              () => {
                inFlight--;
                recorder.record(intended, now(), "client_error");
              },
            ),
          );
        }
        next = times.next();
      }
      if (!next.done) {
        // Wake for the next due request; setTimeout's 1 ms floor only batches
        // sends, it never moves their intended times.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(50, next.value - now()))));
      }
    }
    await Promise.all(pending);
  } finally {
    clearInterval(progress);
  }
  options.onProgress?.(due, recorder.count);
  return { recorder, offered: offeredRequests(stages), durationMs: scheduleMs(stages), elapsedMs: now() };
}
