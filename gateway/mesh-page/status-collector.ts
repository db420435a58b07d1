import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ClientFactory, type RouteTable } from "../../mesh/index.js";
import type { ServiceManifest } from "../../platform/catalogue/index.js";
import type { GatewayFailure } from "../server/gateway-server.js";
import { addWindow, methodStats, readProcess, shortMethod, type MethodWindow, type ProcessReading } from "./mesh-series.js";
import { meshEdges } from "./mesh-edges.js";
import type {
  BreakerState,
  BreakerStatus,
  EndpointHealth,
  EndpointStatus,
  FiringAlert,
  MeshSnapshot,
  MethodStats,
  ServiceStatus,
  SloStatus,
} from "./mesh-snapshot.js";
import { readPrometheusSlos } from "./prometheus-slos.js";
import { slosFromCounters } from "./slo-status.js";
import { parsePrometheusText } from "./prometheus-text.js";
import { RecentErrors } from "./recent-errors.js";
import { rolloutStatuses } from "./rollout-status.js";

/** A mesh service and the base URLs of its processes. */
export interface MeshService {
  readonly name: string;
  readonly endpoints: readonly string[];
}

/** The process running the collector (the gateway), read in-process instead of over the network. */
export interface LocalProcess {
  readonly name: string;
  /** Its client factory's events: breaker transitions, with their exact times. */
  readonly events: ClientFactory["events"];
  /** Its metrics in Prometheus text format, when it keeps any. */
  readonly metricsText?: () => Promise<string>;
  /** Whether it is ready (its /readyz checks pass), when it has readiness checks. */
  readonly ready?: () => boolean;
  /** Its routing rules between upstream versions (mesh/routing), when it routes any. */
  readonly routes?: RouteTable;
}

export interface StatusCollectorOptions {
  readonly services: readonly MeshService[];
  /**
   * The service catalogue's entries (platform/catalogue): owners, tiers,
   * dependencies and SLOs shown beside the live status. Default: none.
   */
  readonly catalogue?: readonly ServiceManifest[];
  readonly local: LocalProcess;
  /** Time between polls. Default: 1 s, so the page follows an outage as it happens. */
  readonly pollIntervalMs?: number;
  /**
   * The window rates, error rates and latencies are computed over. Default:
   * 5 s (at least two polls): one poll's delta is too few calls for a p99 at demo load, and a
   * longer window would hide an outage for longer.
   */
  readonly windowMs?: number;
  /** Deadline of each health check and scrape. Default: 800 ms, under the poll interval. */
  readonly probeTimeoutMs?: number;
  /**
   * How long polling goes on after the page was last looked at (`watch`).
   * Default: 60 s. Polling costs every process a scrape and the gateway their
   * parsing each interval, so a mesh nobody watches is not polled: the first
   * look starts it again (the page then shows "not polled yet" until the first
   * poll ends, and rates once a window has passed).
   */
  readonly idleAfterMs?: number;
  /** Recent gateway errors kept. Default: 50. */
  readonly recentErrors?: number;
  /** Prefix of the mesh's series. Default: "meshwork_", as createMeshMetrics. */
  readonly metricsPrefix?: string;
  /**
   * A Prometheus server loading the generated SLO rules: SLOs over their
   * 30-day period and the burn-rate alerts come from it. Default: none, and
   * SLOs are measured from the processes' counters since they started.
   */
  readonly prometheusUrl?: string;
  /** Points of each method's sparkline (one a poll). Default: 120 (two minutes at the default poll). */
  readonly historyPoints?: number;
}

interface BreakerRecord {
  reading: { target: string; method: string; state: number; transitions: number };
  lastTransitionAt: number;
  transitionSeen: BreakerStatus["transitionSeen"];
}

/** One process of a service: its last status, recent scrapes (the rate window) and breakers. */
interface Endpoint {
  readonly service: string;
  url: string;
  status: EndpointStatus;
  /** Successful scrapes, oldest first; the first is the window's baseline. */
  readonly history: { at: number; reading: ProcessReading }[];
  readonly breakers: Map<string, BreakerRecord>;
  /** Whether the last poll's scrape succeeded. */
  fresh: boolean;
}

const breakerStates: readonly BreakerState[] = ["closed", "half-open", "open"];

/**
 * Polls every process of the mesh: grpc.health.v1 Check (and GET /readyz
 * where served) for health, GET /metrics for per-method rates, error rates,
 * latency quantiles and breakers; the local process (the gateway) is read in
 * place. Each poll produces a MeshSnapshot for the page's subscribers.
 * Memory is bounded: a window's worth of scrapes per endpoint, the breakers
 * the processes report, and a ring of recent errors.
 */
export class StatusCollector {
  private readonly options: Required<Omit<StatusCollectorOptions, "services" | "local" | "catalogue" | "prometheusUrl">>;
  private readonly history = new Map<string, { ratePerSecond: number[]; p99Ms: (number | null)[] }>();
  private prometheus: { slos: SloStatus[]; alerts: FiringAlert[]; error: string } = { slos: [], alerts: [], error: "not read yet" };
  private readonly endpoints: Endpoint[];
  private readonly local: Endpoint;
  private readonly localBreakers = new Map<string, { target: string; method: string; state: BreakerState; at: number }>();
  private readonly errors: RecentErrors;
  private readonly clients = new ClientFactory();
  private readonly listeners = new Set<(snapshot: MeshSnapshot) => void>();
  private readonly stopping = new AbortController();
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** Set by `start`: polling may run. */
  private started = false;
  private watchedAt = 0;
  private snapshot: MeshSnapshot;

  constructor(private readonly config: StatusCollectorOptions) {
    const pollIntervalMs = config.pollIntervalMs ?? 1_000;
    this.options = {
      pollIntervalMs,
      windowMs: config.windowMs ?? Math.max(5_000, 2 * pollIntervalMs),
      probeTimeoutMs: config.probeTimeoutMs ?? 800,
      idleAfterMs: config.idleAfterMs ?? 60_000,
      recentErrors: config.recentErrors ?? 50,
      metricsPrefix: config.metricsPrefix ?? "meshwork_",
      historyPoints: config.historyPoints ?? 120,
    };
    if (!(this.options.pollIntervalMs >= 10) || !(this.options.windowMs >= this.options.pollIntervalMs) || !(this.options.probeTimeoutMs >= 1)) {
      throw new Error("StatusCollector: need pollIntervalMs >= 10, windowMs >= pollIntervalMs and probeTimeoutMs >= 1");
    }
    this.errors = new RecentErrors(this.options.recentErrors);
    const endpoint = (service: string, url: string): Endpoint => ({
      service,
      url,
      status: { url, health: "unknown", detail: "not polled yet", ready: null, scraped: false, restarts: null },
      history: [],
      breakers: new Map(),
      fresh: false,
    });
    this.endpoints = config.services.flatMap((s) => s.endpoints.map((url) => endpoint(s.name, url)));
    this.local = endpoint(config.local.name, "");
    const onBreaker = (e: { target: string; method: string; to: BreakerState }): void => {
      const method = shortMethod(e.method);
      this.localBreakers.set(`${e.target}\u0000${method}`, { target: e.target, method, state: e.to, at: Date.now() });
    };
    config.local.events.on("breakerStateChange", onBreaker);
    this.unsubscribe = () => config.local.events.off("breakerStateChange", onBreaker);
    this.snapshot = this.buildSnapshot(Date.now(), false);
  }

  /**
   * Starts polling, once the local process listens at `localUrl`: the first
   * poll at once, then one every interval after the previous ended, for as
   * long as the page is watched (see `idleAfterMs`; start counts as a look).
   */
  start(localUrl: string): void {
    if (this.started || this.stopping.signal.aborted) {
      return;
    }
    this.started = true;
    this.local.url = localUrl;
    this.watch();
  }

  /**
   * Someone looks at the page (a request for it, its snapshot or its stream,
   * or a poll while a stream is open): polling goes on, or starts again.
   */
  watch(): void {
    this.watchedAt = Date.now();
    if (!this.started || this.timer !== undefined || this.polling !== undefined || this.stopping.signal.aborted) {
      return;
    }
    const loop = (): void => {
      this.timer = undefined;
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (!this.stopping.signal.aborted && Date.now() - this.watchedAt < this.options.idleAfterMs) {
          this.timer = setTimeout(loop, this.options.pollIntervalMs);
        }
      });
    };
    loop();
  }

  /** Stops polling, aborts the poll in flight and closes the health clients. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    this.unsubscribe();
    this.listeners.clear();
    this.clients.close();
  }

  /** The latest snapshot (before the first poll ends, every endpoint "unknown"). */
  latest(): MeshSnapshot {
    return this.snapshot;
  }

  /** Hears every new snapshot; returns the unsubscribe. */
  subscribe(listener: (snapshot: MeshSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records one of the gateway's error responses (wire it to GatewayServer's onFailure). */
  recordFailure(failure: GatewayFailure): void {
    this.errors.add({ at: Date.now(), ...failure });
  }

  private async poll(): Promise<void> {
    await Promise.all([...this.endpoints.map((e) => this.pollRemote(e)), this.pollLocal(), this.pollPrometheus()]);
    if (this.stopping.signal.aborted) {
      return;
    }
    this.snapshot = this.buildSnapshot(Date.now(), true);
    for (const listener of this.listeners) {
      listener(this.snapshot);
    }
  }

  private async pollPrometheus(): Promise<void> {
    const url = this.config.prometheusUrl;
    if (url === undefined || (this.config.catalogue ?? []).length === 0) {
      return;
    }
    try {
      const read = await readPrometheusSlos(url, this.config.catalogue ?? [], this.probeSignal());
      this.prometheus = { ...read, error: "" };
    } catch (err) {
      // Keep the last reading, saying why it is not fresh.
      this.prometheus = { ...this.prometheus, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private async pollRemote(e: Endpoint): Promise<void> {
    // Health, readiness and metrics answer in cleartext on a service's port
    // whether or not it serves RPCs over mTLS (as for Kubernetes probes and
    // Prometheus), so the page needs no certificate to poll them.
    const probeUrl = e.url.replace(/^https:/, "http:");
    const [health, ready, text] = await Promise.all([this.checkHealth(probeUrl), this.readiness(probeUrl), this.scrape(probeUrl)]);
    e.status = { url: e.url, ...health, ready, scraped: text !== undefined, restarts: restartsIn(text, this.options.metricsPrefix) };
    this.record(e, text, false);
  }

  private async pollLocal(): Promise<void> {
    const text = await this.config.local.metricsText?.().catch(() => undefined);
    // The collector runs inside this process: it is up and answering.
    this.local.status = {
      url: this.local.url,
      health: "serving",
      detail: "",
      ready: this.config.local.ready?.() ?? null,
      scraped: text !== undefined,
      restarts: restartsIn(text, this.options.metricsPrefix),
    };
    this.record(this.local, text, true);
  }

  /** Keeps a successful scrape in the endpoint's window and follows its breakers. */
  private record(e: Endpoint, text: string | undefined, local: boolean): void {
    e.fresh = text !== undefined;
    if (text === undefined) {
      return;
    }
    const now = Date.now();
    const reading = readProcess(parsePrometheusText(text).samples, this.options.metricsPrefix);
    const scrapedBefore = e.history.length > 0;
    e.history.push({ at: now, reading });
    // Keep the newest scrape at or before the window's start as the baseline;
    // one from long before an outage would average the rate over the outage.
    while (e.history.length > 1 && (e.history[1]?.at ?? now) <= now - this.options.windowMs) {
      e.history.shift();
    }
    if (e.history.length > 1 && (e.history[0]?.at ?? now) < now - 3 * this.options.windowMs) {
      e.history.shift();
    }
    if (local) {
      // The local process's breakers come from its events, with exact times.
      return;
    }
    // A breaker is exported from its first transition on: one that appears
    // after an earlier scrape changed state since; at the first scrape, we
    // only know it changed before. One that disappears went with a restart.
    for (const key of e.breakers.keys()) {
      if (!reading.breakers.has(key)) {
        e.breakers.delete(key);
      }
    }
    for (const [key, breaker] of reading.breakers) {
      const known = e.breakers.get(key);
      if (known === undefined) {
        e.breakers.set(key, { reading: breaker, lastTransitionAt: now, transitionSeen: scrapedBefore ? "poll" : "before" });
      } else if (known.reading.state !== breaker.state || known.reading.transitions !== breaker.transitions) {
        e.breakers.set(key, { reading: breaker, lastTransitionAt: now, transitionSeen: "poll" });
      }
    }
  }

  private async checkHealth(url: string): Promise<{ health: EndpointHealth; detail: string }> {
    const client = this.clients.client(Health, {
      name: `mesh page: ${url}`,
      endpoints: url,
      // A probe reports what it finds: no breaker to fail it fast, no retry to hide a failure.
      breaker: false,
      retry: false,
      timeouts: { defaultTimeoutMs: this.options.probeTimeoutMs },
    });
    try {
      const { status } = await client.check({ service: "" }, { signal: this.stopping.signal });
      return status === ServingStatus.SERVING
        ? { health: "serving", detail: "" }
        : status === ServingStatus.NOT_SERVING
          ? { health: "not-serving", detail: "NOT_SERVING" }
          : { health: "unknown", detail: ServingStatus[status] ?? String(status) };
    } catch (err) {
      const error = ConnectError.from(err);
      const unreachable = error.code === Code.Unavailable || error.code === Code.DeadlineExceeded;
      return { health: unreachable ? "unreachable" : "unknown", detail: error.rawMessage };
    }
  }

  /** GET /readyz: true on 200, false on 503, null when not served or not reachable. */
  private async readiness(url: string): Promise<boolean | null> {
    try {
      const res = await fetch(`${url}/readyz`, { signal: this.probeSignal() });
      await res.body?.cancel();
      return res.status === 200 ? true : res.status === 503 ? false : null;
    } catch {
      return null;
    }
  }

  private async scrape(url: string): Promise<string | undefined> {
    try {
      const res = await fetch(`${url}/metrics`, { signal: this.probeSignal() });
      if (!res.ok) {
        await res.body?.cancel();
        return undefined;
      }
      return await res.text();
    } catch {
      return undefined;
    }
  }

  private probeSignal(): AbortSignal {
    return AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.probeTimeoutMs)]);
  }

  private buildSnapshot(at: number, polled: boolean): MeshSnapshot {
    const all = [this.local, ...this.endpoints];
    const services: ServiceStatus[] = [];
    for (const name of [this.local.service, ...this.config.services.map((s) => s.name)]) {
      const endpoints = all.filter((e) => e.service === name).map((e) => e.status);
      const serving = endpoints.filter((s) => s.health === "serving").length;
      const entry = this.config.catalogue?.find((m) => m.name === name);
      services.push({
        name,
        owner: entry?.owner ?? null,
        tier: entry?.tier ?? null,
        state: serving === endpoints.length ? "up" : serving === 0 ? "down" : "degraded",
        endpoints,
      });
    }

    const windows = new Map<string, Map<string, MethodWindow>>();
    for (const e of all) {
      const baseline = e.history[0];
      const current = e.history.at(-1);
      if (!e.fresh || baseline === undefined || current === undefined || baseline === current) {
        continue;
      }
      let byMethod = windows.get(e.service);
      if (byMethod === undefined) {
        byMethod = new Map();
        windows.set(e.service, byMethod);
      }
      addWindow(byMethod, current.reading, baseline.reading, (current.at - baseline.at) / 1000);
    }
    const methods: MethodStats[] = [...windows].flatMap(([process, byMethod]) =>
      [...byMethod.values()].map((w) => {
        const stats = methodStats(process, w);
        const key = `${process}\u0000${stats.kind}\u0000${stats.target}\u0000${stats.method}`;
        let history = this.history.get(key);
        if (history === undefined) {
          history = { ratePerSecond: [], p99Ms: [] };
          this.history.set(key, history);
        }
        if (polled) {
          history.ratePerSecond.push(stats.ratePerSecond);
          history.p99Ms.push(stats.p99Ms);
          history.ratePerSecond.splice(0, Math.max(0, history.ratePerSecond.length - this.options.historyPoints));
          history.p99Ms.splice(0, Math.max(0, history.p99Ms.length - this.options.historyPoints));
        }
        return { ...stats, history: { ratePerSecond: [...history.ratePerSecond], p99Ms: [...history.p99Ms] } };
      }),
    );
    const catalogue = this.config.catalogue ?? [];
    const readings = new Map<string, ProcessReading[]>();
    for (const e of all) {
      const latest = e.history.at(-1);
      if (latest !== undefined) readings.set(e.service, [...(readings.get(e.service) ?? []), latest.reading]);
    }
    const fromPrometheus = this.config.prometheusUrl !== undefined;

    const breakers: BreakerStatus[] = [...this.localBreakers.values()].map((b) => ({
      process: this.local.service,
      endpoint: this.local.url,
      target: b.target,
      method: b.method,
      state: b.state,
      lastTransitionAt: b.at,
      transitionSeen: "exact",
      stale: false,
    }));
    for (const e of this.endpoints) {
      for (const b of e.breakers.values()) {
        breakers.push({
          process: e.service,
          endpoint: e.url,
          target: b.reading.target,
          method: b.reading.method,
          state: breakerStates[b.reading.state] ?? "closed",
          lastTransitionAt: b.lastTransitionAt,
          transitionSeen: b.transitionSeen,
          stale: !e.fresh,
        });
      }
    }

    return {
      at,
      pollIntervalMs: this.options.pollIntervalMs,
      windowMs: this.options.windowMs,
      services,
      methods,
      edges: meshEdges(windows, catalogue),
      slos: fromPrometheus ? this.prometheus.slos : slosFromCounters(catalogue, readings),
      alerts: fromPrometheus ? this.prometheus.alerts : [],
      sloSource: fromPrometheus
        ? { kind: "prometheus", url: this.config.prometheusUrl ?? "", error: this.prometheus.error }
        : { kind: "counters", url: "", error: "" },
      breakers,
      rollouts: this.config.local.routes === undefined ? [] : rolloutStatuses(this.config.local.routes),
      errors: this.errors.list(),
    };
  }
}

/** The supervisor's restart count a process reports (meshwork_process_restarts), if it does. */
function restartsIn(text: string | undefined, prefix: string): number | null {
  if (text === undefined) {
    return null;
  }
  const line = text.split("\n").find((l) => l.startsWith(`${prefix}process_restarts `));
  const value = line === undefined ? NaN : Number(line.slice(line.indexOf(" ") + 1));
  return Number.isFinite(value) ? value : null;
}
