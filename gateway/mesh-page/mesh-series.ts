import type { Sample } from "./prometheus-text.js";
import type { MethodStats } from "./mesh-snapshot.js";
import { counterIncrease, histogramQuantile, ratePerSecond, type Bucket } from "./window-maths.js";

/** A method's counters as one scrape read them: cumulative since its process started. */
export interface MethodCounters {
  readonly kind: MethodStats["kind"];
  readonly target: string;
  /** As shown: "OrderService/PlaceOrder", or the route. */
  readonly method: string;
  /** Calls by code ("ok", "unavailable", ...); for routes without a code label, by HTTP status. */
  readonly calls: Map<string, number>;
  /** Latency histogram: cumulative count by upper bound in seconds (+Inf included). */
  readonly buckets: Map<number, number>;
}

export interface BreakerReading {
  readonly target: string;
  readonly method: string;
  /** meshwork_breaker_state: 0 closed, 1 half-open, 2 open. */
  readonly state: number;
  /** Every transition of this breaker so far, whatever state it entered. */
  readonly transitions: number;
}

/** What the page keeps of one scrape of one process. */
export interface ProcessReading {
  readonly methods: Map<string, MethodCounters>;
  readonly breakers: Map<string, BreakerReading>;
}

/**
 * Services whose calls are left out of the method table: grpc.health.v1 is
 * what this page (and probes) call every second, not the mesh's traffic.
 */
const ignoredServices = /^grpc\.health\./;

/**
 * Reads the mesh's series (mesh/metrics/mesh-metrics.ts) from one scrape:
 * server and client requests by code and their latency histograms, the
 * gateway's routes by status, and breaker state and transitions. Any other
 * series is ignored.
 */
export function readProcess(samples: readonly Sample[], prefix = "meshwork_"): ProcessReading {
  const methods = new Map<string, MethodCounters>();
  const breakers = new Map<string, BreakerReading>();
  const methodOf = (kind: MethodCounters["kind"], labels: Readonly<Record<string, string>>): MethodCounters | undefined => {
    const service = labels.service ?? "";
    if (ignoredServices.test(service)) {
      return undefined;
    }
    const target = kind === "client" ? (labels.target ?? "") : "";
    const method = kind === "route" ? `${labels.method ?? ""} ${labels.route ?? ""}`.trim() : `${shortService(service)}/${labels.method ?? ""}`;
    const key = `${kind}\u0000${target}\u0000${method}`;
    let m = methods.get(key);
    if (m === undefined) {
      m = { kind, target, method, calls: new Map(), buckets: new Map() };
      methods.set(key, m);
    }
    return m;
  };
  const breakerOf = (labels: Readonly<Record<string, string>>): { target: string; method: string; key: string } => {
    const target = labels.target ?? "";
    const method = shortMethod(labels.method ?? "");
    return { target, method, key: `${target}\u0000${method}` };
  };
  const series: Record<string, (s: Sample) => void> = {
    [`${prefix}server_requests_total`]: (s) => add(methodOf("server", s.labels)?.calls, s.labels.code, s.value),
    [`${prefix}client_requests_total`]: (s) => add(methodOf("client", s.labels)?.calls, s.labels.code, s.value),
    [`${prefix}gateway_requests_total`]: (s) => add(methodOf("route", s.labels)?.calls, s.labels.code ?? s.labels.status, s.value),
    [`${prefix}server_request_duration_seconds_bucket`]: (s) => addBucket(methodOf("server", s.labels), s),
    [`${prefix}client_request_duration_seconds_bucket`]: (s) => addBucket(methodOf("client", s.labels), s),
    [`${prefix}gateway_request_duration_seconds_bucket`]: (s) => addBucket(methodOf("route", s.labels), s),
    [`${prefix}breaker_state`]: (s) => {
      const { target, method, key } = breakerOf(s.labels);
      breakers.set(key, { target, method, state: s.value, transitions: breakers.get(key)?.transitions ?? 0 });
    },
    [`${prefix}breaker_transitions_total`]: (s) => {
      const { target, method, key } = breakerOf(s.labels);
      const known = breakers.get(key);
      breakers.set(key, { target, method, state: known?.state ?? 0, transitions: (known?.transitions ?? 0) + s.value });
    },
  };
  for (const s of samples) {
    series[s.name]?.(s);
  }
  return { methods, breakers };
}

/** A method's increases over a window, possibly summed over several endpoints. */
export interface MethodWindow {
  readonly kind: MethodStats["kind"];
  readonly target: string;
  readonly method: string;
  /** Calls per second in the window. */
  perSecond: number;
  readonly calls: Map<string, number>;
  readonly buckets: Map<number, number>;
}

/**
 * Adds the increases from `baseline` to `current` (two scrapes of one
 * process, `seconds` apart) into `into`, keyed by method. A method missing
 * from the baseline started being called since: all its counts are new.
 */
export function addWindow(into: Map<string, MethodWindow>, current: ProcessReading, baseline: ProcessReading, seconds: number): void {
  for (const [key, m] of current.methods) {
    const before = baseline.methods.get(key);
    let w = into.get(key);
    if (w === undefined) {
      w = { kind: m.kind, target: m.target, method: m.method, perSecond: 0, calls: new Map(), buckets: new Map() };
      into.set(key, w);
    }
    let total = 0;
    for (const [code, value] of m.calls) {
      const increase = counterIncrease(before?.calls.get(code), value);
      total += increase;
      add(w.calls, code, increase);
    }
    w.perSecond += ratePerSecond(total, seconds);
    for (const [le, value] of m.buckets) {
      add(w.buckets, le, counterIncrease(before?.buckets.get(le), value));
    }
  }
}

/** A window's row of the method table, without its history (the collector keeps that). */
export function methodStats(process: string, w: MethodWindow): Omit<MethodStats, "history"> {
  let total = 0;
  let failed = 0;
  const errorsByCode: Record<string, number> = {};
  for (const [code, n] of w.calls) {
    total += n;
    if (isFailure(w.kind, code) && n > 0) {
      failed += n;
      errorsByCode[code] = n;
    }
  }
  const buckets: Bucket[] = [...w.buckets].map(([le, count]) => ({ le, count }));
  const ms = (q: number): number | null => {
    const seconds = histogramQuantile(q, buckets);
    return seconds === undefined || !Number.isFinite(seconds) ? null : seconds * 1000;
  };
  return {
    process,
    kind: w.kind,
    target: w.target,
    method: w.method,
    ratePerSecond: w.perSecond,
    errorRate: total > 0 ? failed / total : null,
    p50Ms: ms(0.5),
    p99Ms: ms(0.99),
    errorsByCode,
  };
}

function isFailure(kind: MethodStats["kind"], code: string): boolean {
  // Gateway routes are counted by RPC code (gRPC and gRPC-Web answer HTTP 200
  // whatever happens); an HTTP status is read only where no code was given.
  return kind === "route" && /^\d+$/.test(code) ? Number(code) >= 400 : code !== "ok";
}

/**
 * "meshwork.orders.v1.OrderService" -> "OrderService"; a version other than
 * v1 stays visible: "meshwork.inventory.v2alpha1.InventoryService" ->
 * "InventoryService.v2alpha1".
 */
export function shortService(typeName: string): string {
  const parts = typeName.split(".");
  const name = parts.at(-1) ?? typeName;
  const version = parts.at(-2) ?? "";
  return /^v\d+\w*$/.test(version) && version !== "v1" ? `${name}.${version}` : name;
}

/** "meshwork.payments.v1.PaymentService/AuthorizePayment" -> "PaymentService/AuthorizePayment". */
export function shortMethod(fullName: string): string {
  const slash = fullName.lastIndexOf("/");
  return slash < 0 ? fullName : `${shortService(fullName.slice(0, slash))}${fullName.slice(slash)}`;
}

function add<K>(map: Map<K, number> | undefined, key: K | undefined, value: number): void {
  if (map !== undefined && key !== undefined && Number.isFinite(value)) {
    map.set(key, (map.get(key) ?? 0) + value);
  }
}

function addBucket(m: MethodCounters | undefined, s: Sample): void {
  const le = s.labels.le === undefined ? undefined : s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
  if (le !== undefined && !Number.isNaN(le)) {
    add(m?.buckets, le, s.value);
  }
}
