// A V8 .cpuprofile (node --cpu-prof), read once for the summaries and
// breakdowns that walk it: its nodes by id, each node's caller, and its
// samples with their monotonic timestamps (µs, as process.hrtime).
import { readFileSync } from "node:fs";

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface CpuProfile {
  /** The node's caller, undefined for the root. */
  parentOf(node: ProfileNode): ProfileNode | undefined;
  /** Every sample in time order: its leaf node, the µs it stands for, its timestamp and index. */
  forEachSample(fn: (node: ProfileNode, us: number, at: number, index: number) => void): void;
  /**
   * The samples taken between two timestamps (µs) that are not idle, with the
   * µs each stands for.
   */
  forEachBusySample(window: readonly [number, number], fn: (node: ProfileNode, us: number) => void): void;
}

export function readCpuProfile(file: string): CpuProfile {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parent.set(child, node);
    }
  }
  const forEachSample = (fn: (node: ProfileNode, us: number, at: number, index: number) => void): void => {
    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      const us = profile.timeDeltas[i] ?? 0;
      t += us;
      const node = byId.get(id);
      if (node !== undefined) {
        fn(node, us, t, i);
      }
    });
  };
  return {
    parentOf: (node) => parent.get(node.id),
    forEachSample,
    forEachBusySample(window, fn) {
      forEachSample((node, us, at) => {
        if (at >= window[0] && at <= window[1] && node.callFrame.functionName !== "(idle)") {
          fn(node, us);
        }
      });
    },
  };
}
