import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import type { Sample } from "../../gateway/mesh-page/prometheus-text.js";
import { RolloutDecisionSchema, RolloutSchema, RolloutState, type Rollout } from "../../gen/meshwork/routing/v1/routing_pb.js";
import type { Slo } from "../../platform/catalogue/index.js";
import { defaultThresholds, judgeReach, judgeStep, readRouted, sloBurns, versionWindow, type CanaryThresholds, type RoutedReading } from "./canary-analysis.js";

export interface CanaryOptions {
  /** The routed target, as its callers name it (e.g. "orders"). */
  readonly target: string;
  /** The version rolled out, and the one it replaces. */
  readonly canary: string;
  readonly stable: string;
  /** The canary's weight at each step, in percent, rising, ending at 100. Default: 1, 5, 25, 50, 100. */
  readonly steps?: readonly number[];
  /** How long each analysis window lasts. */
  readonly windowMs: number;
  /** How long after a weight change before its window starts (the processes' routes-file poll). */
  readonly settleMs: number;
  /** Windows one step may take to gather enough canary calls before it is judged on what it has. Default: 3. */
  readonly maxWindowsPerStep?: number;
  readonly thresholds?: CanaryThresholds;
  /**
   * The target's SLOs, from its catalogue entry (services/<target>/service.yaml):
   * a step also fails when the canary burns one's error budget fast
   * (thresholds.maxSloBurnRate), even if the stable version does too. Default: none.
   */
  readonly slos?: readonly Slo[];
  /** Every caller's /metrics, parsed: the routed_* series the analysis reads. */
  scrape(): Promise<(readonly Sample[])[]>;
  /** Puts the canary's weight (the stable version takes the rest) and the rollout's story in force everywhere. */
  publish(weight: number, rollout: Rollout): Promise<void>;
  readonly logger: Logger;
}

export const defaultSteps: readonly number[] = [1, 5, 25, 50, 100];

/**
 * A canary rollout, as Flagger or Argo Rollouts run one, from the mesh's own
 * metrics: the canary's weight rises step by step; at each step its callers'
 * version-labelled series over a window compare its error rate and p99 with
 * the stable version's, and its own burn of the target's SLOs with the
 * platform's fast-burn factor; a breach sets its weight back to 0 and says why; the
 * last step promotes it to 100%. Every step and decision is logged and
 * published with the weights (the routes file), where every process's
 * metrics and the gateway's /mesh page show it. Resolves with the final
 * rollout (PROMOTED or ROLLED_BACK).
 */
export async function runCanary(options: CanaryOptions): Promise<Rollout> {
  const steps = options.steps ?? defaultSteps;
  if (steps.length === 0 || steps.at(-1) !== 100 || steps.some((w, i) => !(Number.isInteger(w) && w > 0 && w <= 100) || (i > 0 && w <= steps[i - 1]!))) {
    throw new RangeError(`steps must rise from above 0 to 100 in whole percents, got ${steps.join(",")}`);
  }
  const thresholds = options.thresholds ?? defaultThresholds;
  const maxWindows = options.maxWindowsPerStep ?? 3;
  const { logger, target, canary, stable } = options;
  const rollout = create(RolloutSchema, { canary, stable, state: RolloutState.PROGRESSING, weight: 0 });
  const slos = options.slos ?? [];
  const log = logger.child({ target, canary, stable });
  log.info({ slos: slos.map((s) => s.name), max_slo_burn_rate: thresholds.maxSloBurnRate }, "canary rollout: judged against the stable version and its SLOs");
  const read = async (): Promise<RoutedReading> => readRouted(await options.scrape(), target);
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  for (const weight of steps) {
    rollout.weight = weight;
    await options.publish(weight, rollout);
    log.info({ weight }, "canary step: weight set");
    await sleep(options.settleMs);
    const start = await read();
    let verdict;
    let canaryWindow;
    let stableWindow;
    let burns;
    let windows = 0;
    do {
      await sleep(options.windowMs);
      windows++;
      const end = await read();
      canaryWindow = versionWindow(start, end, canary);
      stableWindow = versionWindow(start, end, stable);
      burns = sloBurns(start, end, canary, slos);
      verdict = judgeStep(canaryWindow, stableWindow, burns, thresholds);
    } while (verdict.passed && !verdict.conclusive && windows < maxWindows);
    if (!verdict.conclusive) {
      verdict = judgeReach(canaryWindow, stableWindow, weight, thresholds) ?? verdict;
    }
    rollout.decisions.push(
      create(RolloutDecisionSchema, {
        time: timestampNow(),
        weight,
        passed: verdict.passed,
        reason: verdict.reason,
        canaryErrorRate: canaryWindow.calls === 0 ? 0 : canaryWindow.failures / canaryWindow.calls,
        stableErrorRate: stableWindow.calls === 0 ? 0 : stableWindow.failures / stableWindow.calls,
        canaryP99Ms: canaryWindow.p99Ms ?? 0,
        stableP99Ms: stableWindow.p99Ms ?? 0,
        canaryCalls: BigInt(canaryWindow.calls),
        stableCalls: BigInt(stableWindow.calls),
      }),
    );
    if (!verdict.passed) {
      rollout.weight = 0;
      rollout.state = RolloutState.ROLLED_BACK;
      await options.publish(0, rollout);
      log.warn({ weight, reason: verdict.reason, canary_window: canaryWindow, stable_window: stableWindow, slo_burns: burns }, "canary rolled back");
      return rollout;
    }
    log.info({ weight, reason: verdict.reason, canary_window: canaryWindow, stable_window: stableWindow, slo_burns: burns }, "canary step passed");
  }
  rollout.state = RolloutState.PROMOTED;
  await options.publish(100, rollout);
  log.info("canary promoted: it takes every call");
  return rollout;
}
