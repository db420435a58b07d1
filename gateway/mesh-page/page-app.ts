// The mesh page in the browser: follows /mesh/stream and redraws its tables
// from each snapshot. Everything from the snapshot is set as text
// (textContent, setAttribute), never parsed as HTML.
import type { BreakerStatus, EndpointStatus, MeshSnapshot, MethodStats, RecentError, ServiceStatus } from "./mesh-snapshot.js";

type Tone = "good" | "warn" | "bad" | "muted";
type Cell = string | Node | { text: string; className: string };

const tables = {
  services: element("services"),
  methods: element("methods"),
  breakers: element("breakers"),
  errors: element("errors"),
};
const connection = element("connection");
const methodsHint = element("methods-hint");

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
          i === 0 ? badge(service.state, serviceTone[service.state]) : "",
          mono(e.url),
          badge(e.health, healthTone[e.health]),
          e.ready === null ? badge("n/a", "muted") : badge(e.ready ? "ready" : "not ready", e.ready ? "good" : "bad"),
          e.scraped ? "scraped" : "–",
          e.detail,
        ],
        { "data-testid": "endpoint-row", "data-service": service.name, "data-state": service.state, "data-health": e.health },
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
  tables.methods.replaceChildren(...(methods.length > 0 ? methods : [emptyRow("No calls seen yet.", 8)]));
  const breakers = renderBreakers(s.breakers, now);
  tables.breakers.replaceChildren(...(breakers.length > 0 ? breakers : [emptyRow("Every breaker is closed.", 5)]));
  const errors = renderErrors(s.errors);
  tables.errors.replaceChildren(...(errors.length > 0 ? errors : [emptyRow("No errors.", 6)]));
  methodsHint.textContent = `Over the last ${Math.round(s.windowMs / 1000)} s, summed over each service's endpoints; latency estimated from histogram buckets.`;
  connection.textContent = `Live · updated ${time(s.at)} · polled every ${(s.pollIntervalMs / 1000).toFixed(1)} s`;
  connection.dataset.state = "live";
}

const stream = new EventSource("/mesh/stream");
stream.onmessage = (event: MessageEvent<string>) => render(JSON.parse(event.data) as MeshSnapshot);
stream.onerror = () => {
  connection.textContent = "Disconnected from the gateway; reconnecting…";
  connection.dataset.state = "reconnecting";
};
