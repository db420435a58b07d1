import { expect } from "chai";
import { Counter, Histogram, Registry } from "prom-client";
import { parsePrometheusText } from "./prometheus-text.js";

describe("parsePrometheusText", () => {
  it("reads samples with labels, escapes, special values and timestamps, and skips comments", () => {
    const text = [
      "# HELP http_requests_total The total number of HTTP requests.",
      "# TYPE http_requests_total counter",
      'http_requests_total{method="post",code="200"} 1027 1395066363000',
      'http_requests_total{method="post",code="400"}    3 1395066363000',
      "",
      'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
      "metric_without_timestamp_and_labels 12.47",
      'something_weird{problem="division by zero"} +Inf -3982045',
      "nan_value NaN",
      "negative -0.5",
      'trailing_comma{a="1",} 2',
    ].join("\n");
    const { samples, skipped } = parsePrometheusText(text);
    expect(skipped).to.equal(0);
    expect(samples.map((s) => s.name)).to.deep.equal([
      "http_requests_total",
      "http_requests_total",
      "msdos_file_access_time_seconds",
      "metric_without_timestamp_and_labels",
      "something_weird",
      "nan_value",
      "negative",
      "trailing_comma",
    ]);
    expect(samples[0]).to.deep.equal({ name: "http_requests_total", labels: { method: "post", code: "200" }, value: 1027 });
    expect(samples[1]?.value).to.equal(3);
    expect(samples[2]?.labels).to.deep.equal({ path: "C:\\DIR\\FILE.TXT", error: 'Cannot find file:\n"FILE.TXT"' });
    expect(samples[2]?.value).to.equal(1.458255915e9);
    expect(samples[3]).to.deep.equal({ name: "metric_without_timestamp_and_labels", labels: {}, value: 12.47 });
    expect(samples[4]?.value).to.equal(Infinity);
    expect(samples[5]?.value).to.satisfy(Number.isNaN);
    expect(samples[6]?.value).to.equal(-0.5);
    expect(samples[7]?.labels).to.deep.equal({ a: "1" });
  });

  it("skips lines that do not parse and keeps the others", () => {
    const { samples, skipped } = parsePrometheusText(
      ['good 1', 'bad{a="1" 2', "no_value", "value_not_a_number abc", "9starts_with_digit 1", 'unterminated{a="x} 1', "good2 2"].join("\n"),
    );
    expect(samples.map((s) => [s.name, s.value])).to.deep.equal([
      ["good", 1],
      ["good2", 2],
    ]);
    expect(skipped).to.equal(5);
  });

  it("reads what prom-client writes: counters with awkward label values and histogram buckets", async () => {
    const registry = new Registry();
    const counter = new Counter({ name: "calls_total", help: "calls", labelNames: ["method", "code"], registers: [registry] });
    counter.labels('Weird "name"\\with\nnewline', "ok").inc(7);
    const histogram = new Histogram({ name: "latency_seconds", help: "latency", labelNames: ["method"], buckets: [0.001, 0.01], registers: [registry] });
    histogram.labels("Get").observe(0.0005);
    histogram.labels("Get").observe(0.005);
    histogram.labels("Get").observe(5);

    const { samples, skipped } = parsePrometheusText(await registry.metrics());
    expect(skipped).to.equal(0);
    const calls = samples.filter((s) => s.name === "calls_total");
    expect(calls).to.deep.equal([{ name: "calls_total", labels: { method: 'Weird "name"\\with\nnewline', code: "ok" }, value: 7 }]);
    const buckets = samples.filter((s) => s.name === "latency_seconds_bucket").map((s) => [s.labels.le, s.value]);
    expect(buckets).to.deep.equal([
      ["0.001", 1],
      ["0.01", 2],
      ["+Inf", 3],
    ]);
    expect(samples.find((s) => s.name === "latency_seconds_count")?.value).to.equal(3);
    expect(samples.find((s) => s.name === "latency_seconds_sum")?.value).to.be.closeTo(5.0055, 1e-9);
  });
});
