// Where a V8 .cpuprofile (node --cpu-prof) spends its time: self time by
// function and by file/package, and inclusive time by function.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readCpuProfile, type ProfileNode } from "./cpu-profile.js";
import { fmt } from "./number-format.js";

export interface Share {
  readonly name: string;
  readonly ms: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  /** Sampled time in the window, idle excluded; the percentages are of it. */
  readonly totalMs: number;
  readonly idleMs: number;
  /** The window (µs, CLOCK_MONOTONIC) the samples were taken from, if one was given and held samples. */
  readonly windowUs?: readonly [number, number];
  readonly selfByFunction: Share[];
  readonly selfByFile: Share[];
  readonly inclusiveByFunction: Share[];
}

/**
 * `window`: only samples taken between these monotonic timestamps (µs, as
 * process.hrtime), e.g. while the load ran, leaving out start-up.
 */
export function summarizeProfile(file: string, top = 25, root = "", window?: readonly [number, number]): ProfileSummary {
  const profile = readCpuProfile(file);
  const stamps: number[] = [];
  profile.forEachSample((_node, _us, at) => stamps.push(at));
  const inWindow =
    window !== undefined && stamps.some((s) => s >= window[0] && s <= window[1])
      ? (i: number): boolean => stamps[i]! >= window[0] && stamps[i]! <= window[1]
      : (): boolean => true;
  const where = (url: string): string => {
    const path = url.replace(/^file:\/\//, "");
    const nm = path.lastIndexOf("/node_modules/");
    if (nm >= 0) {
      const rest = path.slice(nm + "/node_modules/".length).split("/");
      const pkg = rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
      return `${pkg} (${rest.slice(pkg.split("/").length).join("/")})`;
    }
    if (path === "") {
      return "(native/V8)";
    }
    return root !== "" && path.startsWith(root) ? path.slice(root.length + 1) : path;
  };
  const fnKey = (node: ProfileNode): string => {
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || "(anonymous)"} ${url === "" ? "" : `${where(url)}:${lineNumber + 1}`}`.trim();
  };
  const self = new Map<string, number>();
  const files = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  profile.forEachSample((node, us, _at, i) => {
    if (!inWindow(i)) {
      return;
    }
    if (node.callFrame.functionName === "(idle)") {
      idleUs += us;
      return;
    }
    totalUs += us;
    const key = fnKey(node);
    self.set(key, (self.get(key) ?? 0) + us);
    const fileKey = node.callFrame.url === "" ? node.callFrame.functionName || "(native/V8)" : where(node.callFrame.url).replace(/:\d+$/, "");
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
    const seen = new Set<string>();
    for (let n: ProfileNode | undefined = node; n !== undefined; n = profile.parentOf(n)) {
      const k = fnKey(n);
      if (!seen.has(k)) {
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + us);
      }
    }
  });
  const rank = (map: Map<string, number>): Share[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: (100 * us) / Math.max(totalUs, 1) }));
  return {
    file,
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    ...(window !== undefined && stamps.some((s) => s >= window[0] && s <= window[1]) ? { windowUs: window } : {}),
    selfByFunction: rank(self),
    selfByFile: rank(files),
    inclusiveByFunction: rank(inclusive),
  };
}

/** Prints, for every .cpuprofile in `dir`, its self time by file and inclusive time by function (top 20). */
export function printProfileSummaries(dir: string, root: string): void {
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const summary = summarizeProfile(join(dir, name), 20, root);
    console.log(`\nprofile ${join(dir, name)}: ${fmt(summary.totalMs, 0)} ms sampled, ${fmt(summary.idleMs, 0)} ms idle`);
    console.log("  self time by file:");
    for (const s of summary.selfByFile) {
      console.log(`    ${fmt(s.percent, 1).padStart(5)}%  ${s.name}`);
    }
    console.log("  inclusive time by function:");
    for (const s of summary.inclusiveByFunction) {
      console.log(`    ${fmt(s.percent, 1).padStart(5)}%  ${s.name}`);
    }
  }
}
