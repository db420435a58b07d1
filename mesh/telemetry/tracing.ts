import type { Tracer } from "@opentelemetry/api";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type BufferConfig,
  type Sampler,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { UnrecordedTracer } from "./unrecorded-tracer.js";

export interface TracingOptions {
  /**
   * The share of new traces recorded, 0 to 1. Default: 1. Calls that
   * continue a trace follow their parent's sampled flag instead (parent-based
   * sampling), so a trace is recorded whole or not at all. Ignored when
   * `sampler` is given.
   */
  readonly sampleRatio?: number;
  /**
   * The sampler, for the other standard choices (always on, always off,
   * ratio without parent: see `tracingOptionsFromEnv`). Default: parent-based
   * with `sampleRatio` for new traces.
   */
  readonly sampler?: Sampler;
  /**
   * Where finished spans go. Default: none; spans then get ids and are
   * sampled and propagated, but not recorded (see UnrecordedTracer): a
   * process that exports nothing pays nothing for recording.
   */
  readonly exporter?: SpanExporter;
  /**
   * "batch" (default) exports in the background, in batches; "simple" exports
   * each span as it ends, which tests want and production does not.
   */
  readonly export?: "batch" | "simple";
  /** Batching of "batch" export. Default: the SDK's (5 s delay, 512 spans a batch, queue of 2048). */
  readonly batch?: BufferConfig;
  /**
   * The resource's service.name, which names the process in every backend.
   * Default: the SDK's "unknown_service:<executable>".
   */
  readonly serviceName?: string;
  /** The instrumentation scope name of the tracer. Default: "meshwork". */
  readonly tracerName?: string;
}

/** A tracer, and the provider to flush and shut down on exit. */
export interface Tracing {
  readonly tracer: Tracer;
  readonly provider: BasicTracerProvider;
}

/**
 * Creates the tracer a process passes to `traceServer` and `traceClient`.
 * Nothing is registered globally (no global provider, propagator or context
 * manager): the mesh carries the context itself (see active-context.ts).
 */
export function createTracing(options: TracingOptions = {}): Tracing {
  const ratio = options.sampleRatio ?? 1;
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new RangeError(`sampleRatio must be between 0 and 1, got ${ratio}`);
  }
  const exporter = options.exporter;
  const resource =
    options.serviceName === undefined
      ? defaultResource()
      : defaultResource().merge(resourceFromAttributes({ "service.name": options.serviceName }));
  const sampler = options.sampler ?? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  const provider = new BasicTracerProvider({
    resource,
    sampler,
    spanProcessors:
      exporter === undefined
        ? []
        : [options.export === "simple" ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter, options.batch)],
  });
  const tracer = exporter === undefined ? new UnrecordedTracer(sampler) : provider.getTracer(options.tracerName ?? "meshwork");
  return { tracer, provider };
}
