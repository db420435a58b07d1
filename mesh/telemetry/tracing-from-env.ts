import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type BufferConfig,
  type Sampler,
} from "@opentelemetry/sdk-trace-base";
import { envInt, envString, type Env } from "../env.js";
import { createTracing, type Tracing, type TracingOptions } from "./tracing.js";

/** What `tracingFromEnv` read, for the process's start-up log line. */
export interface TracingConfig {
  readonly serviceName: string;
  /** The OTLP/HTTP traces URL spans are exported to; undefined: not exported. */
  readonly tracesUrl: string | undefined;
  /** The sampler's standard name and, for the ratio samplers, its ratio. */
  readonly sampler: string;
  readonly ratio: number | undefined;
  readonly batch: BufferConfig;
}

/**
 * Reads the standard OpenTelemetry environment variables a process honours
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
 *
 * - OTEL_SERVICE_NAME: the resource's service.name. Default: `defaultServiceName`.
 * - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL), else
 *   OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"): export spans there over
 *   OTLP/HTTP with JSON bodies. Neither set: spans are not exported, but trace
 *   context is still propagated, so a trace stays whole across processes that
 *   do export. OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, if set, must be
 *   "http/json", the one this exporter speaks; OTEL_EXPORTER_OTLP_HEADERS and
 *   _TIMEOUT are read by the exporter itself.
 * - OTEL_TRACES_SAMPLER: always_on, always_off, traceidratio,
 *   parentbased_always_on, parentbased_always_off or parentbased_traceidratio
 *   (default: parentbased_traceidratio), and OTEL_TRACES_SAMPLER_ARG, the
 *   ratio of the ratio samplers, 0 to 1 (default 1).
 * - OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT, OTEL_BSP_MAX_QUEUE_SIZE,
 *   OTEL_BSP_MAX_EXPORT_BATCH_SIZE: batching of the export.
 *
 * A value it cannot honour throws, naming the variable, so a misconfigured
 * process stops at start instead of silently tracing differently.
 */
export function tracingConfigFromEnv(env: Env, defaultServiceName: string): TracingConfig {
  const { sampler, ratio } = samplerFromEnv(env);
  return {
    serviceName: envString(env, "OTEL_SERVICE_NAME", defaultServiceName),
    tracesUrl: tracesUrlFromEnv(env),
    sampler,
    ratio,
    batch: {
      scheduledDelayMillis: envInt(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000, { min: 0 }),
      exportTimeoutMillis: envInt(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, { min: 1 }),
      maxQueueSize: envInt(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2_048, { min: 1 }),
      maxExportBatchSize: envInt(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, { min: 1 }),
    },
  };
}

/** The options `createTracing` takes for a configuration read by `tracingConfigFromEnv`. */
export function tracingOptions(config: TracingConfig): TracingOptions {
  return {
    serviceName: config.serviceName,
    sampler: samplerOf(config.sampler, config.ratio ?? 1),
    batch: config.batch,
    ...(config.tracesUrl === undefined ? {} : { exporter: new OTLPTraceExporter({ url: config.tracesUrl }) }),
  };
}

/**
 * Tracing for a process's main, configured from its environment (see
 * `tracingConfigFromEnv`). Shut the provider down on exit, after the server
 * has drained, so the last spans are flushed.
 */
export function tracingFromEnv(env: Env, defaultServiceName: string): Tracing & { readonly config: TracingConfig } {
  const config = tracingConfigFromEnv(env, defaultServiceName);
  return { ...createTracing(tracingOptions(config)), config };
}

const samplerNames = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
type SamplerName = (typeof samplerNames)[number];

function samplerFromEnv(env: Env): { sampler: SamplerName; ratio: number | undefined } {
  const name = envString(env, "OTEL_TRACES_SAMPLER", "parentbased_traceidratio").trim().toLowerCase();
  if (!samplerNames.includes(name as SamplerName)) {
    throw new Error(`OTEL_TRACES_SAMPLER=${env.OTEL_TRACES_SAMPLER}: expected one of ${samplerNames.join(", ")}`);
  }
  const sampler = name as SamplerName;
  if (!sampler.endsWith("traceidratio")) {
    // The specification has the argument ignored by samplers that take none.
    return { sampler, ratio: undefined };
  }
  const raw = envString(env, "OTEL_TRACES_SAMPLER_ARG", "1").trim();
  const ratio = Number(raw);
  if (raw === "" || !(ratio >= 0 && ratio <= 1)) {
    throw new Error(`OTEL_TRACES_SAMPLER_ARG=${env.OTEL_TRACES_SAMPLER_ARG}: expected a ratio between 0 and 1 for ${sampler}`);
  }
  return { sampler, ratio };
}

function samplerOf(name: string, ratio: number): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      throw new Error(`unknown sampler ${name}`);
  }
}

function tracesUrlFromEnv(env: Env): string | undefined {
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = env[name];
    if (protocol !== undefined && protocol !== "" && protocol !== "http/json") {
      throw new Error(`${name}=${protocol}: only http/json is supported (OTLP over HTTP with JSON bodies)`);
    }
  }
  const traces = envString(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "");
  if (traces !== "") {
    return checkedUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces);
  }
  const base = envString(env, "OTEL_EXPORTER_OTLP_ENDPOINT", "");
  if (base === "") {
    return undefined;
  }
  checkedUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base);
  return `${base.replace(/\/+$/, "")}/v1/traces`;
}

function checkedUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name}=${value}: not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`${name}=${value}: expected an http:// or https:// URL`);
  }
  return value;
}
