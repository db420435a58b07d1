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
  /**
   * The first value `pick` gives for the frames of `leaf`'s stack, innermost
   * first (undefined: look at the caller); undefined when no frame gives one.
   */
  innermost<T>(leaf: ProfileNode, pick: (node: ProfileNode) => T | undefined): T | undefined;
  /**
   * Busy µs (idle excluded) between two timestamps, by the class `classify`
   * gives each sample's leaf (asked once per leaf node; undefined: counted in
   * the total only), and the total.
   */
  busyTimeBy<C>(window: readonly [number, number], classify: (leaf: ProfileNode) => C | undefined): { busyUs: number; byClass: Map<C, number> };
}

/** What a frame is matched on: its script's path (file:// dropped), or its name for a frame with no script (GC, natives). */
export function frameKey(node: ProfileNode): string {
  return node.callFrame.url === "" ? node.callFrame.functionName : node.callFrame.url.replace(/^file:\/\//, "");
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
  const forEachBusySample = (window: readonly [number, number], fn: (node: ProfileNode, us: number) => void): void => {
    forEachSample((node, us, at) => {
      if (at >= window[0] && at <= window[1] && node.callFrame.functionName !== "(idle)") {
        fn(node, us);
      }
    });
  };
  return {
    parentOf: (node) => parent.get(node.id),
    forEachSample,
    forEachBusySample,
    innermost(leaf, pick) {
      for (let n: ProfileNode | undefined = leaf; n !== undefined; n = parent.get(n.id)) {
        const picked = pick(n);
        if (picked !== undefined) {
          return picked;
        }
      }
      return undefined;
    },
    busyTimeBy<C>(window: readonly [number, number], classify: (leaf: ProfileNode) => C | undefined) {
      const classOf = new Map<number, C | undefined>();
      const byClass = new Map<C, number>();
      let busyUs = 0;
      forEachBusySample(window, (leaf, us) => {
        busyUs += us;
        if (!classOf.has(leaf.id)) {
          classOf.set(leaf.id, classify(leaf));
        }
        const c = classOf.get(leaf.id);
        if (c !== undefined) {
          byClass.set(c, (byClass.get(c) ?? 0) + us);
        }
      });
      return { busyUs, byClass };
    },
  };
}
