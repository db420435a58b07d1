import type { ServiceManifest } from "../../platform/catalogue/index.js";
import type { MeshEdge } from "./mesh-snapshot.js";
import type { MethodWindow } from "./mesh-series.js";
import { histogramQuantile } from "./window-maths.js";

/**
 * The mesh's calls as graph edges, process -> target: the client side of
 * every call seen in the window (rate, share of calls not ok, p99 from the
 * summed histogram buckets), plus each dependency the catalogue declares,
 * with no traffic figures when none was seen.
 */
export function meshEdges(windows: ReadonlyMap<string, ReadonlyMap<string, MethodWindow>>, catalogue: readonly ServiceManifest[]): MeshEdge[] {
  const edges = new Map<string, { from: string; to: string; perSecond: number; total: number; failed: number; buckets: Map<number, number> }>();
  for (const [process, byMethod] of windows) {
    for (const w of byMethod.values()) {
      if (w.kind !== "client" || w.target === "") continue;
      const key = `${process}\u0000${w.target}`;
      let edge = edges.get(key);
      if (edge === undefined) {
        edge = { from: process, to: w.target, perSecond: 0, total: 0, failed: 0, buckets: new Map() };
        edges.set(key, edge);
      }
      edge.perSecond += w.perSecond;
      for (const [code, n] of w.calls) {
        edge.total += n;
        if (code !== "ok") edge.failed += n;
      }
      for (const [le, n] of w.buckets) edge.buckets.set(le, (edge.buckets.get(le) ?? 0) + n);
    }
  }
  const declared = new Set(catalogue.flatMap((m) => m.dependencies.map((d) => `${m.name}\u0000${d}`)));
  const result: MeshEdge[] = [...edges.entries()].map(([key, e]) => {
    const p99 = histogramQuantile(0.99, [...e.buckets].map(([le, count]) => ({ le, count })));
    return {
      from: e.from,
      to: e.to,
      declared: declared.has(key),
      ratePerSecond: e.perSecond,
      errorRate: e.total > 0 ? e.failed / e.total : null,
      p99Ms: p99 === undefined || !Number.isFinite(p99) ? null : p99 * 1000,
    };
  });
  for (const key of declared) {
    if (!edges.has(key)) {
      const [from = "", to = ""] = key.split("\u0000");
      result.push({ from, to, declared: true, ratePerSecond: null, errorRate: null, p99Ms: null });
    }
  }
  return result.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}
