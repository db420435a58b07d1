import type { LoadSummary } from "./load-summary.js";

// The report is one self-contained HTML file with inline SVG: it opens from
// disk or a CI artifact with no script, no network and no chart library to
// ship (a line chart and a bar chart are a few dozen lines of SVG).

const width = 880;
const height = 260;
const pad = { left: 64, right: 16, top: 16, bottom: 36 };
const colours = { p50: "#2b7bb9", p90: "#3aa35c", p99: "#e08b00", max: "#c8372d", offered: "#888", achieved: "#2b7bb9", errors: "#c8372d" };

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

interface Series {
  readonly name: string;
  readonly colour: string;
  readonly points: readonly (readonly [number, number])[];
}

/** A line chart; `log` puts y on a log scale (latencies span orders of magnitude). */
function lineChart(title: string, yLabel: string, series: readonly Series[], log: boolean, xLabel = "seconds since start (by intended send time)"): string {
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => !log || y > 0);
  const xMax = Math.max(1, ...xs);
  const yMin = log ? Math.max(0.01, Math.min(...ys, 1)) : 0;
  const yMax = Math.max(log ? yMin * 10 : 1, ...ys) * 1.05;
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const x = (v: number) => pad.left + (v / xMax) * innerW;
  const y = (v: number) =>
    pad.top + innerH - (log ? (Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : v / yMax) * innerH;
  const ticks = log
    ? Array.from({ length: 12 }, (_, i) => 10 ** (Math.floor(Math.log10(yMin)) + i)).filter((t) => t >= yMin && t <= yMax)
    : Array.from({ length: 5 }, (_, i) => (yMax * i) / 4);
  const grid = ticks
    .map((t) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(t)}" y2="${y(t)}" class="grid"/><text x="${pad.left - 6}" y="${y(t) + 4}" text-anchor="end">${formatNumber(t)}</text>`)
    .join("");
  const xTicks = Array.from({ length: 6 }, (_, i) => Math.round((xMax * i) / 5))
    .map((t) => `<text x="${x(t)}" y="${height - pad.bottom + 16}" text-anchor="middle">${t}</text>`)
    .join("");
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.colour}" stroke-width="1.8" points="${s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(" ")}"/>`)
    .join("");
  const legend = series
    .map((s, i) => `<rect x="${pad.left + 10 + i * 110}" y="${pad.top + 2}" width="12" height="4" fill="${s.colour}"/><text x="${pad.left + 26 + i * 110}" y="${pad.top + 8}">${escape(s.name)}</text>`)
    .join("");
  return `<figure><figcaption>${escape(title)}</figcaption><svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(title)}">
${grid}${xTicks}<text x="${width / 2}" y="${height - 4}" text-anchor="middle">${escape(xLabel)}</text>
<text x="14" y="${height / 2}" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">${escape(yLabel)}</text>${lines}${legend}</svg></figure>`;
}

function barChart(title: string, bars: readonly { label: string; count: number }[]): string {
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const w = innerW / bars.length;
  const rects = bars
    .map((b, i) => {
      const h = (b.count / max) * innerH;
      const bx = pad.left + i * w;
      return `<rect x="${bx + 2}" y="${pad.top + innerH - h}" width="${w - 4}" height="${h}" fill="${colours.p50}"><title>${escape(b.label)}: ${b.count}</title></rect>` +
        `<text x="${bx + w / 2}" y="${height - pad.bottom + 14}" text-anchor="middle" class="small">${escape(b.label)}</text>` +
        (b.count > 0 ? `<text x="${bx + w / 2}" y="${pad.top + innerH - h - 4}" text-anchor="middle" class="small">${b.count}</text>` : "");
    })
    .join("");
  return `<figure><figcaption>${escape(title)}</figcaption><svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(title)}">${rects}
<text x="${width / 2}" y="${height - 4}" text-anchor="middle">latency (ms, up to)</text></svg></figure>`;
}

function formatNumber(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : v >= 1 ? `${+v.toFixed(1)}` : `${+v.toPrecision(2)}`;
}

/** The report of a load run: the summary table, latency over time, rates over time, the latency histogram. */
export function htmlReport(s: LoadSummary, generatedAt: Date): string {
  const secs = s.seconds;
  const series = (name: keyof typeof colours, pick: (x: (typeof secs)[number]) => number, onlyDue = false): Series => ({
    name,
    colour: colours[name],
    // Latency exists only for the seconds in which requests were due.
    points: secs.filter((sec) => !onlyDue || sec.offered > 0).map((sec) => [sec.second, pick(sec)] as const),
  });
  const rows: [string, string][] = [
    ["Target", s.target],
    ["Schedule", `${s.stages} (${s.durationS} s)`],
    ["Rate offered / achieved", `${s.offeredRate.toFixed(1)}/s / ${s.achievedRate.toFixed(1)}/s`],
    ["Responses", String(s.requests)],
    ["p50 / p90 / p99 / p99.9 / max", [s.latencyMs.p50, s.latencyMs.p90, s.latencyMs.p99, s.latencyMs.p999, s.latencyMs.max].map((v) => `${formatNumber(v)} ms`).join(" / ")],
    ["Errors", `${s.errors}${s.codes.filter((c) => c.code !== "ok").map((c) => ` · ${c.code} ${c.count}`).join("")}`],
  ];
  const bars = s.distribution.map((b) => ({ label: b.toMs === Infinity ? `>${formatNumber(b.fromMs)}` : formatNumber(b.toMs), count: b.count }));
  // Trim empty buckets at both ends.
  const first = bars.findIndex((b) => b.count > 0);
  const last = bars.length - 1 - [...bars].reverse().findIndex((b) => b.count > 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Meshwork load report: ${escape(s.target)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 940px; }
h1 { font-size: 20px; } table { border-collapse: collapse; margin-bottom: 16px; }
td, th { text-align: left; padding: 3px 12px 3px 0; } th { font-weight: 600; color: #555; }
figure { margin: 0 0 20px; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 100%; height: auto; font-size: 11px; fill: #444; } .grid { stroke: #e4e4e4; } .small { font-size: 10px; }
p.note { color: #555; }
</style></head><body>
<h1>Load report</h1>
<p class="note">Generated ${escape(generatedAt.toISOString())} by <code>make load</code>. Open loop: requests leave at their scheduled
times whatever the answers, and latency runs from each request's intended send time, so a stall shows on every request due during it.</p>
<table>${rows.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join("")}</table>
${lineChart("Latency over time (per second of intended send time)", "ms (log)", [series("p50", (x) => x.p50Ms, true), series("p90", (x) => x.p90Ms, true), series("p99", (x) => x.p99Ms, true), series("max", (x) => x.maxMs, true)], true)}
${lineChart("Requests per second", "requests/s", [series("offered", (x) => x.offered), series("achieved", (x) => x.completed), series("errors", (x) => x.errors)], false, "seconds since start (offered and errors by intended send time, achieved by arrival)")}
${barChart("Latency histogram (all requests)", first < 0 ? [] : bars.slice(first, last + 1))}
</body></html>
`;
}
