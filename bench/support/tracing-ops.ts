// Where tracing's share of a V8 .cpuprofile goes, by operation: each sample
// whose innermost contributor frame (bench/support/cost-breakdown.ts) is
// tracing's is charged to the innermost of the operations below on its stack,
// or to "tracing, other" (the interceptors' own frames, settled's callbacks);
// GC is given apart, as the profile shows it (it cannot say whose garbage).
import { contributors } from "./cost-breakdown.js";
import { readCpuProfile, type ProfileNode } from "./cpu-profile.js";

/** Operations, tested innermost frame first; the first whose function name and url match wins. */
export const tracingOps: readonly { readonly name: string; readonly fn: RegExp; readonly url: RegExp }[] = [
  { name: "span start (Tracer.startSpan: ids, sampler, SpanImpl, attributes)", fn: /^startSpan$/, url: /sdk-trace\/build\/src\/Tracer\.js/ },
  { name: "span end (Span.end, BatchSpanProcessor.onEnd)", fn: /^end$/, url: /sdk-trace\/build\/src\/Span\.js/ },
  { name: "status attributes (endRpcSpan's setAttribute/setStatus)", fn: /^endRpcSpan$/, url: /mesh\/telemetry\/rpc-attributes\.ts/ },
  { name: "W3C extract (traceparent in, callerContext)", fn: /^(extract|callerContext)$/, url: /W3CTraceContextPropagator|mesh\/telemetry\/trace-server\.ts/ },
  { name: "W3C inject (traceparent out, Headers.set)", fn: /^inject$/, url: /W3CTraceContextPropagator/ },
  { name: "contexts (trace.setSpan, getSpan)", fn: /^(setSpan|getSpan|setValue|getValue|BaseContext)$/, url: /@opentelemetry\/api\// },
  { name: "active context (enterActiveContext, restore, activeContext)", fn: /.*/, url: /mesh\/telemetry\/active-context\.ts/ },
  { name: "client in-flight bookkeeping (events to spans)", fn: /^(recorded|targetOf|leave|systemOf|routeAttributes)$/, url: /mesh\/telemetry\/trace-client\.ts/ },
];
const tracing = contributors.find((c) => c.name.startsWith("tracing"))!;
const wrappers = /mesh\/async\/settled\.ts/;

/** µs of busy time (idle excluded) per operation, and the busy total, between two monotonic timestamps (µs). */
export function tracingOpTimes(file: string, window: readonly [number, number]): { busyUs: number; byOp: Map<string, number> } {
  const profile = readCpuProfile(file);
  const memo = new Map<number, string | undefined>();
  const classify = (leaf: ProfileNode): string | undefined => {
    if (memo.has(leaf.id)) {
      return memo.get(leaf.id);
    }
    let found: string | undefined;
    let tracingFrom: ProfileNode | undefined;
    for (let n: ProfileNode | undefined = leaf; n !== undefined; n = profile.parentOf(n)) {
      const url = n.callFrame.url.replace(/^file:\/\//, "");
      const key = url === "" ? n.callFrame.functionName : url;
      if (key === "(garbage collector)") {
        found = "GC";
        break;
      }
      if (wrappers.test(url)) {
        continue; // settled's frames belong to whoever called it
      }
      const hit = contributors.find((c) => c.pattern.test(key));
      if (hit !== undefined) {
        tracingFrom = hit === tracing ? leaf : undefined;
        break;
      }
    }
    if (tracingFrom !== undefined) {
      // The innermost operation on the stack names the sample's cost.
      found = "tracing, other (interceptor frames, settled callbacks)";
      for (let n: ProfileNode | undefined = tracingFrom; n !== undefined; n = profile.parentOf(n)) {
        const url = n.callFrame.url.replace(/^file:\/\//, "");
        const op = tracingOps.find((o) => o.fn.test(n!.callFrame.functionName) && o.url.test(url));
        if (op !== undefined) {
          found = op.name;
          break;
        }
      }
    }
    memo.set(leaf.id, found);
    return found;
  };
  const byOp = new Map<string, number>();
  let busyUs = 0;
  profile.forEachBusySample(window, (node, us) => {
    busyUs += us;
    const op = classify(node);
    if (op !== undefined) {
      byOp.set(op, (byOp.get(op) ?? 0) + us);
    }
  });
  return { busyUs, byOp };
}
