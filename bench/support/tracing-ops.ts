// Where tracing's share of a V8 .cpuprofile goes, by operation: each sample
// whose innermost contributor frame (bench/support/cost-breakdown.ts) is
// tracing's is charged to the innermost of the operations below on its stack,
// or to "tracing, other" (the interceptors' own frames, settled's callbacks);
// GC is given apart, as the profile shows it (it cannot say whose garbage).
import { contributors } from "./cost-breakdown.js";
import { frameKey, readCpuProfile, type ProfileNode } from "./cpu-profile.js";

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
  const notTracing = Symbol("another contributor");
  const classify = (leaf: ProfileNode): string | undefined => {
    const found = profile.innermost<string | typeof notTracing>(leaf, (n) => {
      const key = frameKey(n);
      if (key === "(garbage collector)") {
        return "GC";
      }
      if (wrappers.test(key)) {
        return undefined; // settled's frames belong to whoever called it
      }
      const hit = contributors.find((c) => c.pattern.test(key));
      return hit === undefined ? undefined : hit === tracing ? tracingOpOf(leaf) : notTracing;
    });
    return found === notTracing ? undefined : found;
  };
  // The innermost operation on the stack names the sample's cost.
  const tracingOpOf = (leaf: ProfileNode): string =>
    profile.innermost(leaf, (n) => tracingOps.find((o) => o.fn.test(n.callFrame.functionName) && o.url.test(n.callFrame.url.replace(/^file:\/\//, "")))?.name) ??
    "tracing, other (interceptor frames, settled callbacks)";
  const { busyUs, byClass } = profile.busyTimeBy(window, classify);
  return { busyUs, byOp: byClass };
}
