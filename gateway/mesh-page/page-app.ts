// The mesh page in the browser: asks the operator for an admin token, follows
// /mesh/stream with it and redraws its tables from each snapshot. Everything
// from the snapshot is set as text (textContent, setAttribute), never parsed
// as HTML. The token stays in this tab's sessionStorage (gone when the tab
// closes) and is sent only as the Authorization header of same-origin
// requests; EventSource cannot send that header, so the stream is read with
// fetch() (event-stream.ts).
import { readEventStream } from "./event-stream.js";
import type {
  BreakerStatus,
  EndpointStatus,
  FiringAlert,
  MeshEdge,
  MeshSnapshot,
  MethodStats,
  RecentError,
  RolloutStatus,
  ServiceStatus,
  SloSource,
  SloStatus,
} from "./mesh-snapshot.js";

type Tone = "good" | "warn" | "bad" | "muted";
type Cell = string | Node | { text: string; className: string };

const tables = {
  services: element("services"),
  slos: element("slos"),
  alerts: element("alerts"),
  methods: element("methods"),
  breakers: element("breakers"),
  rollouts: element("rollouts"),
  errors: element("errors"),
};
const connection = element("connection");
const methodsHint = element("methods-hint");
const slosHint = element("slos-hint");
const graph = element("graph");

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found;
}

function badge(text: string, tone: Tone): HTMLElement {
  const span = document.createElement("span");
  span.className = `badge ${tone}`;
  span.textContent = text;
  return span;
}

function row(cells: readonly Cell[], attributes: Record<string, string>): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const [name, value] of Object.entries(attributes)) {
    tr.setAttribute(name, value);
  }
  for (const cell of cells) {
    const td = document.createElement("td");
    if (typeof cell === "string") {
      td.textContent = cell;
    } else if (cell instanceof Node) {
      td.append(cell);
    } else {
      td.textContent = cell.text;
      td.className = cell.className;
    }
    tr.append(td);
  }
  return tr;
}

function emptyRow(text: string, columns: number): HTMLTableRowElement {
  const tr = document.createElement("tr");
  tr.className = "empty";
  const td = document.createElement("td");
  td.colSpan = columns;
  td.textContent = text;
  tr.append(td);
  return tr;
}

const num = (text: string): Cell => ({ text, className: "num" });
const mono = (text: string): Cell => ({ text, className: "mono" });

function time(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

function ago(at: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  return seconds < 90 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function rate(perSecond: number): string {
  return `${perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(perSecond >= 1 ? 1 : 2)}/s`;
}

function percent(share: number | null): string {
  return share === null ? "–" : `${(share * 100).toFixed(share > 0 && share < 0.1 ? 1 : 0)}%`;
}

function millis(ms: number | null): string {
  if (ms === null) return "–";
  return ms < 1 ? `${Math.round(ms * 1000)} µs` : ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

const healthTone: Record<EndpointStatus["health"], Tone> = { serving: "good", "not-serving": "bad", unknown: "warn", unreachable: "bad" };
const serviceTone: Record<ServiceStatus["state"], Tone> = { up: "good", degraded: "warn", down: "bad" };
const breakerTone: Record<BreakerStatus["state"], Tone> = { closed: "good", "half-open": "warn", open: "bad" };

function renderServices(services: readonly ServiceStatus[]): Node[] {
  return services.flatMap((service) =>
    service.endpoints.map((e, i) =>
      row(
        [
          i === 0 ? service.name : "",
          i === 0 ? (service.owner ?? "–") : "",
          i === 0 ? badge(service.state, serviceTone[service.state]) : "",
          mono(e.url),
          badge(e.health, healthTone[e.health]),
          e.ready === null ? badge("n/a", "muted") : badge(e.ready ? "ready" : "not ready", e.ready ? "good" : "bad"),
          e.restarts === null ? "–" : e.restarts === 0 ? "0" : badge(String(e.restarts), "warn"),
          e.scraped ? "scraped" : "–",
          e.detail,
        ],
        {
          "data-testid": "endpoint-row",
          "data-service": service.name,
          "data-owner": service.owner ?? "",
          "data-state": service.state,
          "data-health": e.health,
          "data-restarts": e.restarts === null ? "" : String(e.restarts),
        },
      ),
    ),
  );
}

function renderMethods(methods: readonly MethodStats[]): Node[] {
  const sorted = [...methods].sort(
    (a, b) => a.process.localeCompare(b.process) || a.kind.localeCompare(b.kind) || a.target.localeCompare(b.target) || a.method.localeCompare(b.method),
  );
  return sorted.map((m) => {
    const failures = Object.entries(m.errorsByCode)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code} ${n}`)
      .join(", ");
    const side = m.kind === "client" ? `calls ${m.target}` : m.kind === "route" ? "route" : "serves";
    return row(
      [
        m.process,
        side,
        mono(m.method),
        num(rate(m.ratePerSecond)),
        m.errorRate !== null && m.errorRate > 0 ? badge(percent(m.errorRate), m.errorRate >= 0.05 ? "bad" : "warn") : num(percent(m.errorRate)),
        num(millis(m.p50Ms)),
        num(millis(m.p99Ms)),
        sparkline(m.history.ratePerSecond, "rate"),
        sparkline(m.history.p99Ms, "p99"),
        failures,
      ],
      { "data-testid": "method-row", "data-process": m.process, "data-kind": m.kind, "data-method": m.method },
    );
  });
}

function renderBreakers(breakers: readonly BreakerStatus[], now: number): Node[] {
  const sorted = [...breakers].sort((a, b) => a.process.localeCompare(b.process) || a.target.localeCompare(b.target) || a.method.localeCompare(b.method));
  return sorted.map((b) => {
    const when =
      b.transitionSeen === "before" ? `before ${time(b.lastTransitionAt)}` : `${time(b.lastTransitionAt)} (${ago(b.lastTransitionAt, now)})`;
    return row(
      [
        b.process,
        b.target,
        mono(b.method),
        badge(b.stale ? `${b.state} (last known)` : b.state, b.stale ? "muted" : breakerTone[b.state]),
        when,
      ],
      { "data-testid": "breaker-row", "data-process": b.process, "data-target": b.target, "data-method": b.method, "data-state": b.state },
    );
  });
}

const rolloutTone: Record<NonNullable<RolloutStatus["rollout"]>["state"], Tone> = {
  progressing: "warn",
  promoted: "good",
  "rolled-back": "bad",
  unspecified: "muted",
};

function renderRollouts(rollouts: readonly RolloutStatus[]): Node[] {
  return rollouts.map((r) => {
    const last = r.rollout?.decisions.at(-1);
    return row(
      [
        r.target,
        r.weights.map((w) => `${w.version} ${w.weight}%`).join(" · "),
        r.rollout === undefined
          ? "none"
          : badge(`${r.rollout.canary}: ${r.rollout.state} at ${r.rollout.weight}% (${r.rollout.decisions.length} steps)`, rolloutTone[r.rollout.state]),
        last === undefined ? "" : `${last.passed ? "passed" : "failed"} at ${last.weight}%: ${last.reason}`,
      ],
      { "data-testid": "rollout-row", "data-target": r.target, "data-state": r.rollout?.state ?? "none" },
    );
  });
}

function renderErrors(errors: readonly RecentError[]): Node[] {
  return errors.map((e) =>
    row(
      [time(e.at), mono(e.request), num(String(e.status)), e.code, e.message, mono(e.requestId)],
      { "data-testid": "error-row", "data-request-id": e.requestId },
    ),
  );
}

function render(s: MeshSnapshot): void {
  const now = s.at;
  tables.services.replaceChildren(...renderServices(s.services));
  const methods = renderMethods(s.methods);
  tables.methods.replaceChildren(...(methods.length > 0 ? methods : [emptyRow("No calls seen yet.", 10)]));
  renderGraph(s.services, s.edges);
  const slos = renderSlos(s.slos, s.alerts);
  tables.slos.replaceChildren(...(slos.length > 0 ? slos : [emptyRow("The catalogue declares no SLOs.", 7)]));
  const alerts = renderAlerts(s.alerts, now);
  tables.alerts.replaceChildren(
    ...(alerts.length > 0
      ? alerts
      : [emptyRow(s.sloSource.kind === "prometheus" ? "No burn-rate alert is firing." : "Alerts need Prometheus: set MESH_PROMETHEUS_URL.", 6)]),
  );
  slosHint.textContent = sourceText(s.sloSource);
  const breakers = renderBreakers(s.breakers, now);
  tables.breakers.replaceChildren(...(breakers.length > 0 ? breakers : [emptyRow("Every breaker is closed.", 5)]));
  const rollouts = renderRollouts(s.rollouts);
  tables.rollouts.replaceChildren(...(rollouts.length > 0 ? rollouts : [emptyRow("Every target has one version.", 4)]));
  const errors = renderErrors(s.errors);
  tables.errors.replaceChildren(...(errors.length > 0 ? errors : [emptyRow("No errors.", 6)]));
  methodsHint.textContent = `Over the last ${Math.round(s.windowMs / 1000)} s, summed over each service's endpoints; latency estimated from histogram buckets.`;
  connection.textContent = `Live · updated ${time(s.at)} · polled every ${(s.pollIntervalMs / 1000).toFixed(1)} s`;
  connection.dataset.state = "live";
}

const tokenKey = "meshwork.mesh.token";
const signIn = element("sign-in") as HTMLFormElement;
const tokenInput = element("token") as HTMLInputElement;
const signInError = element("sign-in-error");
const signOut = element("sign-out") as HTMLButtonElement;
/** Ends the stream being read, when the operator signs out. */
let following: AbortController | undefined;

function setConnection(text: string, state: string): void {
  connection.textContent = text;
  connection.dataset.state = state;
}

/** Shows the token form, with why the gateway refused the last token if it did. */
function askForToken(refusal: string): void {
  following?.abort();
  following = undefined;
  sessionStorage.removeItem(tokenKey);
  signIn.hidden = false;
  signOut.hidden = true;
  signInError.textContent = refusal;
  setConnection(refusal === "" ? "Signed out: the mesh's state is for operators." : "Refused by the gateway.", refusal === "" ? "signed-out" : "refused");
  tokenInput.focus();
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Reads /mesh/stream with the token until signed out: a broken stream is
 * opened again after the stream's `retry` (or the gateway's Retry-After when
 * it is busy); 401 and 403 ask for another token.
 */
async function follow(token: string): Promise<void> {
  following?.abort();
  const control = new AbortController();
  following = control;
  signIn.hidden = true;
  signOut.hidden = false;
  signInError.textContent = "";
  setConnection("Connecting…", "connecting");
  let retryMs = 1000;
  while (!control.signal.aborted) {
    let waitMs = retryMs;
    try {
      const res = await fetch("/mesh/stream", { headers: { authorization: `Bearer ${token}` }, cache: "no-store", signal: control.signal });
      if (res.status === 401 || res.status === 403) {
        const refusal = ((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`;
        askForToken(`${res.status === 401 ? "The token was not accepted" : "The token is not an operator's"}: ${refusal}`);
        return;
      }
      if (!res.ok || res.body === null) {
        const message = ((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`;
        waitMs = 1000 * Math.max(1, Number(res.headers.get("retry-after") ?? 1) || 1);
        setConnection(`The gateway refused the stream (${message}); retrying…`, "reconnecting");
      } else {
        await readEventStream(res.body, {
          onData: (data) => render(JSON.parse(data) as MeshSnapshot),
          onRetry: (ms) => (retryMs = ms),
        });
        setConnection("Disconnected from the gateway; reconnecting…", "reconnecting");
      }
    } catch {
      if (control.signal.aborted) return;
      setConnection("Disconnected from the gateway; reconnecting…", "reconnecting");
    }
    await sleep(waitMs, control.signal);
  }
}

signIn.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim().replace(/^Bearer\s+/i, "");
  tokenInput.value = "";
  // eslint-disable-next-line security/detect-possible-timing-attacks -- compares with the empty string, not with a secret
  if (token === "") return;
  sessionStorage.setItem(tokenKey, token);
  void follow(token);
});
signOut.addEventListener("click", () => askForToken(""));

const saved = sessionStorage.getItem(tokenKey);
if (saved === null) {
  askForToken("");
} else {
  void follow(saved);
}

const svgNs = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** A small line chart of the last polls; gaps where nothing was observed. */
function sparkline(values: readonly (number | null)[], what: string): Node {
  const width = 96;
  const height = 22;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "spark", "data-testid": "sparkline", "data-what": what });
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  chart.setAttribute("data-points", String(finite.length));
  const max = Math.max(...finite, 0);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let run: string[] = [];
  const flush = (): void => {
    if (run.length > 0) chart.append(svg("polyline", { points: run.join(" "), fill: "none", stroke: "#3559a8", "stroke-width": 1.5 }));
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return flush();
    const y = max > 0 ? height - 2 - (v / max) * (height - 4) : height - 2;
    run.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  flush();
  const title = svg("title", {});
  title.textContent = `${what}: ${finite.length} points, max ${what === "rate" ? rate(max) : millis(max)}`;
  chart.append(title);
  return chart;
}

function edgeTone(e: MeshEdge): Tone {
  if (e.errorRate === null) return "muted";
  return e.errorRate >= 0.05 ? "bad" : e.errorRate >= 0.01 ? "warn" : "good";
}

const toneColour: Record<Tone, string> = { good: "#2e7d32", warn: "#c77700", bad: "#c62828", muted: "#9e9e9e" };

/**
 * The mesh as a graph: services as nodes in columns by call depth (callers
 * left of callees), calls as arrows coloured by error rate (green under 1%,
 * amber under 5%, red from 5%; grey dashed: declared in the catalogue, no
 * traffic seen) and labelled with rate and p99.
 */
function renderGraph(services: readonly ServiceStatus[], edges: readonly MeshEdge[]): void {
  const names = [...new Set([...services.map((s) => s.name), ...edges.flatMap((e) => [e.from, e.to])])];
  const depth = new Map(names.map((n) => [n, 0]));
  for (let pass = 0; pass < names.length; pass++) {
    for (const e of edges) {
      if (e.from !== e.to) depth.set(e.to, Math.max(depth.get(e.to) ?? 0, Math.min((depth.get(e.from) ?? 0) + 1, names.length)));
    }
  }
  const columns = new Map<number, string[]>();
  for (const n of names) columns.set(depth.get(n) ?? 0, [...(columns.get(depth.get(n) ?? 0) ?? []), n]);
  const nodeW = 150;
  const nodeH = 46;
  const colGap = 130;
  const rowGap = 34;
  // Lone nodes of odd columns sit half a row lower, so that an arrow passing a column does not cross its node.
  const rows = Math.max(2, ...[...columns.values()].map((c) => c.length + 0.5));
  const width = Math.max(1, columns.size) * (nodeW + colGap) - colGap + 20;
  const height = rows * (nodeH + rowGap) - rowGap + 20;
  const at = new Map<string, { x: number; y: number }>();
  for (const [col, members] of [...columns].sort((a, b) => a[0] - b[0])) {
    const offset = ((rows - members.length) * (nodeH + rowGap)) / 2 + (members.length === 1 ? (col % 2 === 1 ? 0.5 : -0.5) * (nodeH / 2 + rowGap) : 0);
    members.sort().forEach((n, i) => at.set(n, { x: 10 + col * (nodeW + colGap), y: 10 + offset + i * (nodeH + rowGap) }));
  }
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "mesh graph" });
  const defs = svg("defs", {});
  for (const tone of Object.keys(toneColour) as Tone[]) {
    const marker = svg("marker", { id: `arrow-${tone}`, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: toneColour[tone] }));
    defs.append(marker);
  }
  chart.append(defs);
  for (const e of edges) {
    const from = at.get(e.from);
    const to = at.get(e.to);
    if (from === undefined || to === undefined) continue;
    const tone = edgeTone(e);
    const forward = to.x > from.x;
    const x1 = forward ? from.x + nodeW : from.x + nodeW / 2;
    const y1 = forward ? from.y + nodeH / 2 : from.y + nodeH;
    const x2 = forward ? to.x : to.x + nodeW / 2;
    const y2 = forward ? to.y + nodeH / 2 : to.y;
    const bend = forward ? (x2 - x1) / 2 : 40;
    const d = forward ? `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}` : `M ${x1} ${y1} C ${x1 + bend} ${y1 + bend}, ${x2 + bend} ${y2 - bend}, ${x2} ${y2}`;
    const group = svg("g", { "data-testid": "graph-edge", "data-from": e.from, "data-to": e.to, "data-tone": tone });
    group.append(
      svg("path", {
        d,
        fill: "none",
        stroke: toneColour[tone],
        "stroke-width": e.ratePerSecond === null ? 1.5 : 2.5,
        ...(e.ratePerSecond === null ? { "stroke-dasharray": "5 4" } : {}),
        "marker-end": `url(#arrow-${tone})`,
      }),
    );
    const label = svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle", class: "edge-label" });
    label.textContent =
      e.ratePerSecond === null ? "no calls seen" : `${rate(e.ratePerSecond)} · p99 ${millis(e.p99Ms)}${e.errorRate ? ` · ${percent(e.errorRate)} err` : ""}`;
    group.append(label);
    chart.append(group);
  }
  for (const name of names) {
    const p = at.get(name)!;
    const service = services.find((s) => s.name === name);
    const tone = service === undefined ? "muted" : serviceTone[service.state];
    const group = svg("g", { "data-testid": "graph-node", "data-service": name, "data-state": service?.state ?? "unknown" });
    group.append(svg("rect", { x: p.x, y: p.y, width: nodeW, height: nodeH, rx: 8, fill: "#fff", stroke: toneColour[tone], "stroke-width": 2.5 }));
    const title = svg("text", { x: p.x + nodeW / 2, y: p.y + 19, "text-anchor": "middle", class: "node-name" });
    title.textContent = name;
    const owner = svg("text", { x: p.x + nodeW / 2, y: p.y + 36, "text-anchor": "middle", class: "node-owner" });
    owner.textContent = service?.owner ?? "";
    group.append(title, owner);
    chart.append(group);
  }
  graph.replaceChildren(chart);
}

function budgetBar(remaining: number | null): Node {
  const wrap = document.createElement("span");
  wrap.className = "budget";
  if (remaining === null) {
    wrap.textContent = "–";
    return wrap;
  }
  const bar = document.createElement("span");
  bar.className = `bar ${remaining <= 0 ? "bad" : remaining < 0.25 ? "warn" : "good"}`;
  bar.style.width = `${Math.round(Math.max(0, Math.min(1, remaining)) * 100)}%`;
  const text = document.createElement("span");
  text.className = "num";
  text.textContent = remaining <= 0 ? "spent" : percent(remaining);
  wrap.append(bar, text);
  return wrap;
}

function renderSlos(slos: readonly SloStatus[], alerts: readonly FiringAlert[]): Node[] {
  return slos.map((s) => {
    const mine = alerts.filter((a) => a.service === s.service && a.slo === s.slo);
    const firing = mine.map((a) => badge(`${a.severity} ${a.state}`, a.state === "firing" ? "bad" : "warn"));
    const attained = s.attainment === null ? "–" : `${(s.attainment * 100).toFixed(s.attainment >= 0.999 ? 2 : 1)}%`;
    const met = s.attainment === null ? "muted" : s.attainment * 100 >= s.objective ? "good" : "bad";
    const alertCell = document.createElement("span");
    alertCell.append(...(firing.length > 0 ? firing : [document.createTextNode("–")]));
    return row(
      [
        s.service,
        s.owner,
        s.slo,
        mono(s.subject),
        num(`${s.objective}%`),
        s.attainment === null ? num("–") : badge(attained, met),
        budgetBar(s.budgetRemaining),
        alertCell,
      ],
      {
        "data-testid": "slo-row",
        "data-service": s.service,
        "data-slo": s.slo,
        "data-budget": s.budgetRemaining === null ? "" : s.budgetRemaining.toFixed(4),
        "data-alerts": mine.map((a) => `${a.severity}:${a.state}`).join(","),
      },
    );
  });
}

function renderAlerts(alerts: readonly FiringAlert[], now: number): Node[] {
  return alerts.map((a) =>
    row(
      [badge(a.severity, a.severity === "page" ? "bad" : "warn"), a.state, a.service, a.slo, a.owner, `${time(a.since)} (${ago(a.since, now)})`],
      { "data-testid": "alert-row", "data-service": a.service, "data-slo": a.slo, "data-severity": a.severity, "data-state": a.state },
    ),
  );
}

function sourceText(source: SloSource): string {
  if (source.kind === "counters") {
    return "Measured from each process's own counters since it started (no Prometheus configured: set MESH_PROMETHEUS_URL for the 30-day period and burn-rate alerts).";
  }
  return `Over each SLO's 30-day period, from the recording rules in Prometheus at ${source.url}${source.error === "" ? "" : ` — last reading failed: ${source.error}`}.`;
}
