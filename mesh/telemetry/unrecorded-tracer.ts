import {
  context as apiContext,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import { RandomIdGenerator, SamplingDecision, type Sampler } from "@opentelemetry/sdk-trace-base";

/**
 * The tracer of a process that exports no spans (no OTLP endpoint set): each
 * span gets real ids, continues its parent's trace (or starts one) and
 * carries the sampler's sampled flag, so trace context propagates unchanged
 * to the processes that do export and log lines still carry trace and span
 * ids; but nothing is recorded. The SDK's tracer records every sampled span
 * (attributes, events, its end) even when no processor will ever see it, and
 * the API's no-op tracer makes no ids for a new trace, so neither fits.
 */
export class UnrecordedTracer implements Tracer {
  private readonly ids = new RandomIdGenerator();

  constructor(private readonly sampler: Sampler) {}

  startSpan(name: string, options: SpanOptions = {}, context: Context = apiContext.active()): Span {
    const parentContext = options.root === true ? trace.deleteSpan(context) : context;
    const parent = trace.getSpanContext(parentContext);
    const continues = parent !== undefined && isSpanContextValid(parent);
    const traceId = continues ? parent.traceId : this.ids.generateTraceId();
    const { decision, traceState } = this.sampler.shouldSample(
      parentContext,
      traceId,
      name,
      options.kind ?? SpanKind.INTERNAL,
      options.attributes ?? {},
      options.links ?? [],
    );
    const state = traceState ?? (continues ? parent.traceState : undefined);
    return trace.wrapSpanContext({
      traceId,
      spanId: this.ids.generateSpanId(),
      traceFlags: decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
      ...(state === undefined ? {} : { traceState: state }),
    });
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, context: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length >= 2 ? (rest[0] as SpanOptions) : {};
    const parent = rest.length >= 3 ? (rest[1] as Context) : apiContext.active();
    const span = this.startSpan(name, options, parent);
    return apiContext.with(trace.setSpan(parent ?? ROOT_CONTEXT, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}
