import { timestampMs } from "@bufbuild/protobuf/wkt";
import { RolloutState } from "../../gen/meshwork/routing/v1/routing_pb.js";
import type { RouteTable } from "../../mesh/index.js";
import type { RolloutStatus } from "./mesh-snapshot.js";

const states: Record<RolloutState, NonNullable<RolloutStatus["rollout"]>["state"]> = {
  [RolloutState.UNSPECIFIED]: "unspecified",
  [RolloutState.PROGRESSING]: "progressing",
  [RolloutState.PROMOTED]: "promoted",
  [RolloutState.ROLLED_BACK]: "rolled-back",
};

/** The targets a route table routes between versions, with their weights and rollouts, for the page. */
export function rolloutStatuses(routes: RouteTable): RolloutStatus[] {
  const out: RolloutStatus[] = [];
  for (const [target, rules] of Object.entries(routes.current.targets)) {
    const versions = routes.versionsOf(target);
    if (versions === undefined) {
      continue;
    }
    const weights = rules.allMethods?.weights ?? {};
    const rollout = rules.rollout;
    out.push({
      target,
      weights: versions.map((version, i) => ({
        version,
        weight: Object.keys(weights).length === 0 ? (i === 0 ? 100 : 0) : (weights[version] ?? 0),
      })),
      ...(rollout === undefined
        ? {}
        : {
            rollout: {
              canary: rollout.canary,
              stable: rollout.stable,
              state: states[rollout.state],
              weight: rollout.weight,
              decisions: rollout.decisions.map((d) => ({
                at: d.time === undefined ? 0 : timestampMs(d.time),
                weight: d.weight,
                passed: d.passed,
                reason: d.reason,
              })),
            },
          }),
    });
  }
  return out.sort((a, b) => a.target.localeCompare(b.target));
}
