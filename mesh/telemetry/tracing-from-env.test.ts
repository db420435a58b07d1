import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from "@opentelemetry/api";
import { expect } from "chai";
import { tracingConfigFromEnv, tracingFromEnv } from "./tracing-from-env.js";

describe("tracingConfigFromEnv", () => {
  it("defaults: the process's name, no export, parent-based ratio 1", () => {
    const config = tracingConfigFromEnv({}, "orders");
    expect(config).to.deep.include({ serviceName: "orders", tracesUrl: undefined, sampler: "parentbased_traceidratio", ratio: 1 });
    expect(config.batch.scheduledDelayMillis).to.equal(5_000);
  });

  it("reads the service name, the endpoint and the batch delay", () => {
    expect(tracingConfigFromEnv({ OTEL_SERVICE_NAME: "orders-eu", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }, "orders")).to.deep.include({
      serviceName: "orders-eu",
      tracesUrl: "http://collector:4318/v1/traces",
    });
    const specific = tracingConfigFromEnv(
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://b/custom/traces", OTEL_BSP_SCHEDULE_DELAY: "50" },
      "x",
    );
    expect(specific.tracesUrl).to.equal("https://b/custom/traces");
    expect(specific.batch.scheduledDelayMillis).to.equal(50);
  });

  it("reads every standard sampler, and the ratio of the ratio ones", () => {
    expect(tracingConfigFromEnv({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }, "x")).to.deep.include({ sampler: "traceidratio", ratio: 0.25 });
    expect(tracingConfigFromEnv({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }, "x")).to.deep.include({ ratio: 0 });
    for (const sampler of ["always_on", "always_off", "parentbased_always_on", "parentbased_always_off"]) {
      // The argument is ignored by samplers that take none, as the specification says.
      expect(tracingConfigFromEnv({ OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: "junk" }, "x")).to.deep.include({ sampler, ratio: undefined });
    }
  });

  it("refuses what it cannot honour, naming the variable", () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ OTEL_TRACES_SAMPLER: "jaeger_remote" }, /^OTEL_TRACES_SAMPLER=jaeger_remote: expected one of always_on, /],
      [{ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" }, /^OTEL_TRACES_SAMPLER_ARG=1.5: expected a ratio between 0 and 1/],
      [{ OTEL_TRACES_SAMPLER_ARG: "half" }, /^OTEL_TRACES_SAMPLER_ARG=half/],
      [{ OTEL_TRACES_SAMPLER_ARG: "-0.1" }, /^OTEL_TRACES_SAMPLER_ARG=-0.1/],
      [{ OTEL_TRACES_SAMPLER_ARG: " " }, /^OTEL_TRACES_SAMPLER_ARG= /],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, /^OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318: expected an http/],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url" }, /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=not a url: not a URL/],
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /^OTEL_EXPORTER_OTLP_PROTOCOL=grpc: only http\/json/],
      [{ OTEL_BSP_SCHEDULE_DELAY: "soon" }, /^OTEL_BSP_SCHEDULE_DELAY=soon/],
    ];
    for (const [env, message] of bad) {
      expect(() => tracingConfigFromEnv(env, "x"), JSON.stringify(env)).to.throw(message);
    }
  });
});

describe("tracingFromEnv", () => {
  const sampled = (env: Record<string, string>, parentSampled?: boolean) => {
    const { tracer } = tracingFromEnv(env, "x");
    const parent =
      parentSampled === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
            spanId: "00f067aa0ba902b7",
            traceFlags: parentSampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
            isRemote: true,
          });
    const span = tracer.startSpan("s", { kind: SpanKind.SERVER }, parent);
    span.end();
    return span.isRecording() || (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
  };

  it("builds the sampler it read", () => {
    expect(sampled({})).to.equal(true);
    expect(sampled({ OTEL_TRACES_SAMPLER_ARG: "0" })).to.equal(false);
    expect(sampled({ OTEL_TRACES_SAMPLER_ARG: "0" }, true)).to.equal(true);
    expect(sampled({}, false)).to.equal(false);
    expect(sampled({ OTEL_TRACES_SAMPLER: "always_on" }, false)).to.equal(true);
    expect(sampled({ OTEL_TRACES_SAMPLER: "always_off" }, true)).to.equal(false);
  });
});
