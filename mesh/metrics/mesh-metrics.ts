import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FaultInjector, InjectedFault } from "../faults/fault-injector.js";
import type { BreakerSnapshot } from "../resilience/circuit-breaker.js";
import type { BreakerState, ResilienceEvents } from "../resilience/resilience-events.js";
import { settled } from "../async/settled.js";
import { codeLabel } from "./code-label.js";
import type { ServerInterceptor } from "../server/unary-call.js";

export interface MeshMetricsOptions {
  /**
   * The registry the series are registered in. Default: a new one owned by
   * these metrics, so that tests and several meshes in one process never
   * collide on prom-client's global registry.
   */
  readonly registry?: Registry;
  /** Prefix of every mesh series. Default: "meshwork_". */
  readonly prefix?: string;
  /**
   * Whether to add prom-client's process and Node.js runtime series (CPU,
   * memory, event-loop lag, GC, handles), under their conventional unprefixed
   * names so that stock dashboards read them. Default: false, because they
   * belong once per process: the main turns them on, tests leave them off.
   */
  readonly collectProcess?: boolean;
  /**
   * How many times a supervisor (`make run`'s) restarted this process before
   * this start, published as meshwork_process_restarts so that /mesh and
   * Prometheus see crash loops. Default: none, and no such series.
   */
  readonly processRestarts?: number;
}

/**
 * Latency buckets, in seconds, from 50 µs to 10 s: unary RPCs inside the mesh
 * take well under a millisecond, so the default prom-client buckets (from
 * 5 ms) would put almost every call in the first one.
 */
export const latencyBuckets: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

/** Breaker states as meshwork_breaker_state reports them. */
const breakerStateValue: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 };

/**
 * The mesh's metrics, in one registry, with the interceptors and event
 * subscriptions that feed them. Labels are bounded by construction: services,
 * methods and codes come from descriptors and the closed code enum, targets
 * from configuration. No request, user, endpoint-instance or trace id is ever
 * a label. The gateway adds its own series to the same registry
 * (gateway/metrics/gateway-metrics.ts): the runtime does not know the edge.
 */
export interface MeshMetrics {
  readonly registry: Registry;
  /** The Content-Type of `metricsText()`: Prometheus text format 0.0.4. */
  readonly contentType: string;
  /**
   * Counts, times and tracks in flight every unary call a server answers.
   * Place it in serve's `interceptors`: it then runs inside catch-unexpected,
   * so an error that is not a ConnectError is counted as `internal`, the code
   * the caller receives.
   */
  serverInterceptor(): ServerInterceptor;
  /**
   * Counts, times and tracks in flight every unary call a client makes. In a
   * ClientFactory's `interceptors` it sits outside the resilience chain, so
   * it sees logical calls (retries are counted by meshwork_retries_total) and
   * the target is the name the factory gives the call. `target` overrides it
   * for a client built any other way. Streaming calls pass through uncounted.
   */
  clientInterceptor(target?: string): Interceptor;
  /** Follows a client factory's resilience events; returns the unsubscribe. */
  observeResilience(events: ResilienceEvents): () => void;
  /**
   * Reads a client factory's breakers at every scrape, so meshwork_breaker_state
   * shows each breaker from its first call (closed, 0), not only once it has
   * changed state, and never misses a change made before the subscription.
   */
  observeBreakers(source: { breakerStates(): BreakerSnapshot[] }): void;
  /**
   * Counts every fault the injector injects (meshwork_faults_injected_total),
   * so that an injected failure is never read as a real one. Returns the
   * unsubscribe.
   */
  observeFaults(injector: Pick<FaultInjector, "events">): () => void;
  /**
   * Counts a call refused for who its caller is (meshwork_server_refused_total:
   * no mTLS, a certificate refused, an identity the contract does not name, a
   * customer assertion not allowed), by reason and method.
   */
  countRefused(reason: string, service: string, method: string): void;
  /** Counts a TLS connection whose client certificate was refused (meshwork_server_tls_peers_refused_total), by reason. */
  countPeerRefused(reason: string): void;
  /** The registry in Prometheus text format. */
  metricsText(): Promise<string>;
}

/** The label children of one method, bound once, so a call builds no label objects. */
interface MethodSeries {
  readonly service: string;
  readonly method: string;
  readonly target: string;
  /** By Code; filled as codes occur. */
  readonly requests: ({ inc(): void } | undefined)[];
  readonly duration: { observe(value: number): void };
  inFlight: number;
}

/** A successful call's code: Connect's Code enum has no OK, gRPC's 0 is it. */
const ok = 0 as Code;

export function createMeshMetrics(options: MeshMetricsOptions = {}): MeshMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? "meshwork_";
  const registers = [registry];
  if (options.collectProcess === true) {
    collectDefaultMetrics({ register: registry });
  }

  const serverSeries = new Map<object, MethodSeries>();
  const clientSeries = new Map<string, MethodSeries>();

  const serverRequests = new Counter({
    name: `${prefix}server_requests_total`,
    help: "Unary calls answered by this server, by service, method and code.",
    labelNames: ["service", "method", "code"] as const,
    registers,
  });
  const serverDuration = new Histogram({
    name: `${prefix}server_request_duration_seconds`,
    help: "Time from a unary call entering the server's interceptors to its response or error.",
    labelNames: ["service", "method"] as const,
    buckets: [...latencyBuckets],
    registers,
  });
  // In-flight counts live in plain numbers on the per-method record and are
  // copied into the gauge when scraped: two gauge updates per call would cost
  // more than the rest of the call's metrics together.
  new Gauge({
    name: `${prefix}server_in_flight`,
    help: "Unary calls this server is handling now.",
    labelNames: ["service", "method"] as const,
    registers,
    collect() {
      for (const s of serverSeries.values()) {
        this.set({ service: s.service, method: s.method }, s.inFlight);
      }
    },
  });
  const clientRequests = new Counter({
    name: `${prefix}client_requests_total`,
    help: "Logical unary calls made by this process's clients (retries included once), by target, service, method and code.",
    labelNames: ["target", "service", "method", "code"] as const,
    registers,
  });
  const clientDuration = new Histogram({
    name: `${prefix}client_request_duration_seconds`,
    help: "Client-side time of a logical unary call, retries and backoff included.",
    labelNames: ["target", "service", "method"] as const,
    buckets: [...latencyBuckets],
    registers,
  });
  new Gauge({
    name: `${prefix}client_in_flight`,
    help: "Unary calls this process's clients are waiting on now.",
    labelNames: ["target", "service", "method"] as const,
    registers,
    collect() {
      for (const s of clientSeries.values()) {
        this.set({ target: s.target, service: s.service, method: s.method }, s.inFlight);
      }
    },
  });

  const breakerSources: { breakerStates(): BreakerSnapshot[] }[] = [];
  const breakerState = new Gauge({
    name: `${prefix}breaker_state`,
    help: "Circuit breaker state per target and method: 0 closed, 1 half-open, 2 open.",
    labelNames: ["target", "method"] as const,
    registers,
    collect() {
      for (const source of breakerSources) {
        for (const b of source.breakerStates()) {
          this.set({ target: b.target, method: b.method }, breakerStateValue[b.state]);
        }
      }
    },
  });
  const breakerTransitions = new Counter({
    name: `${prefix}breaker_transitions_total`,
    help: "Circuit breaker state changes, by the state entered.",
    labelNames: ["target", "method", "to"] as const,
    registers,
  });
  const breakerRejected = new Counter({
    name: `${prefix}breaker_rejected_total`,
    help: "Calls refused by an open (or probing half-open) circuit breaker.",
    labelNames: ["target", "method"] as const,
    registers,
  });
  const retries = new Counter({
    name: `${prefix}retries_total`,
    help: "Retry attempts (not counting each call's first attempt).",
    labelNames: ["target", "method"] as const,
    registers,
  });
  const retryBudgetExhausted = new Counter({
    name: `${prefix}retry_budget_exhausted_total`,
    help: "Retries not made because the target's retry budget was spent.",
    labelNames: ["target", "method"] as const,
    registers,
  });
  const bulkheadRejected = new Counter({
    name: `${prefix}bulkhead_rejected_total`,
    help: "Calls refused because the target's bulkhead was full.",
    labelNames: ["target"] as const,
    registers,
  });
  const endpointEjections = new Counter({
    name: `${prefix}endpoint_ejections_total`,
    help: "Endpoints ejected by outlier detection.",
    labelNames: ["target"] as const,
    registers,
  });
  const endpointsEjected = new Gauge({
    name: `${prefix}endpoints_ejected`,
    help: "Endpoints of the target currently ejected.",
    labelNames: ["target"] as const,
    registers,
  });

  if (options.processRestarts !== undefined) {
    new Gauge({
      name: `${prefix}process_restarts`,
      help: "Times the supervisor restarted this process after it exited unexpectedly, before this start.",
      registers,
    }).set(options.processRestarts);
  }

  const faultsInjected = new Counter({
    name: `${prefix}faults_injected_total`,
    help:
      "Faults injected by this process's fault rules (not failures of the service), by direction " +
      "(inbound: calls it serves; outbound: calls it makes), target (outbound), service, method and fault (delay, abort).",
    labelNames: ["direction", "target", "service", "method", "fault"] as const,
    registers,
  });

  const refused = new Counter({
    name: `${prefix}server_refused_total`,
    help:
      "Calls refused before their handler for who the caller is, by reason (MTLS_REQUIRED, CLIENT_CERTIFICATE_REQUIRED, " +
      "CERTIFICATE_UNKNOWN_ISSUER, CERTIFICATE_EXPIRED, CALLER_NOT_ALLOWED, CUSTOMER_ASSERTION_NOT_ALLOWED, ...), service and method.",
    labelNames: ["reason", "service", "method"] as const,
    registers,
  });
  const peersRefused = new Counter({
    name: `${prefix}server_tls_peers_refused_total`,
    help: "TLS connections whose client had no valid mesh identity (they reach only probes and metrics), by reason.",
    labelNames: ["reason"] as const,
    registers,
  });

  function serverSeriesFor(service: string, method: string, key: object): MethodSeries {
    let s = serverSeries.get(key);
    if (s === undefined) {
      s = { service, method, target: "", requests: [], duration: serverDuration.labels(service, method), inFlight: 0 };
      serverSeries.set(key, s);
    }
    return s;
  }

  function clientSeriesFor(target: string, service: string, method: string, key: string): MethodSeries {
    let s = clientSeries.get(key);
    if (s === undefined) {
      s = { service, method, target, requests: [], duration: clientDuration.labels(target, service, method), inFlight: 0 };
      clientSeries.set(key, s);
    }
    return s;
  }

  function finish(s: MethodSeries, counter: Counter<string>, code: Code, start: number): void {
    s.inFlight--;
    s.duration.observe((performance.now() - start) / 1000);
    let requests = s.requests[code];
    if (requests === undefined) {
      const label = codeLabel(code);
      requests = s.target === "" ? counter.labels(s.service, s.method, label) : counter.labels(s.target, s.service, s.method, label);
      s.requests[code] = requests;
    }
    requests.inc();
  }

  return {
    registry,
    contentType: registry.contentType,

    // Neither interceptor is an async function: one `then` per call instead
    // of an async frame and its await, which cost every call again once
    // AsyncLocalStorage has turned on async hooks.
    serverInterceptor() {
      return (next) => (request, context) => {
        const s = serverSeriesFor(context.service.typeName, context.method.name, context.method);
        const start = performance.now();
        s.inFlight++;
        return settled(
          () => next(request, context),
          () => finish(s, serverRequests, ok, start),
          (err) => finish(s, serverRequests, err instanceof ConnectError ? err.code : Code.Internal, start),
        );
      };
    },

    clientInterceptor(target) {
      return (next) => (req) => {
        if (req.stream) {
          return next(req);
        }
        // Keyed by URL: the factory's transport builds it as
        // `${target name}/${service}/${method}`, one string per target and method.
        const s =
          clientSeries.get(req.url) ??
          clientSeriesFor(target ?? targetOf(req.url, req.service.typeName, req.method.name), req.service.typeName, req.method.name, req.url);
        const start = performance.now();
        s.inFlight++;
        return settled(
          () => next(req),
          () => finish(s, clientRequests, ok, start),
          (err) => finish(s, clientRequests, ConnectError.from(err).code, start),
        );
      };
    },

    observeResilience(events) {
      const listeners = {
        breakerStateChange: (e: { target: string; method: string; to: BreakerState }) => {
          breakerState.labels(e.target, e.method).set(breakerStateValue[e.to]);
          breakerTransitions.labels(e.target, e.method, e.to).inc();
        },
        breakerRejected: (e: { target: string; method: string }) => breakerRejected.labels(e.target, e.method).inc(),
        retry: (e: { target: string; method: string }) => retries.labels(e.target, e.method).inc(),
        retryBudgetExhausted: (e: { target: string; method: string }) => retryBudgetExhausted.labels(e.target, e.method).inc(),
        bulkheadRejected: (e: { target: string }) => bulkheadRejected.labels(e.target).inc(),
        endpointEjected: (e: { target: string }) => {
          endpointEjections.labels(e.target).inc();
          endpointsEjected.labels(e.target).inc();
        },
        endpointRestored: (e: { target: string }) => endpointsEjected.labels(e.target).dec(),
      };
      for (const [name, listener] of Object.entries(listeners)) {
        events.on(name as keyof typeof listeners, listener);
      }
      return () => {
        for (const [name, listener] of Object.entries(listeners)) {
          events.off(name as keyof typeof listeners, listener);
        }
      };
    },

    observeBreakers(source) {
      breakerSources.push(source);
    },

    observeFaults(injector) {
      const listener = (f: InjectedFault) => faultsInjected.labels(f.direction, f.target, f.service, f.method, f.fault).inc();
      injector.events.on("injected", listener);
      return () => injector.events.off("injected", listener);
    },

    countRefused(reason, service, method) {
      refused.labels(reason, service, method).inc();
    },

    countPeerRefused(reason) {
      peersRefused.labels(reason).inc();
    },

    metricsText() {
      return registry.metrics();
    },
  };
}

/**
 * The target part of a client request URL: what precedes
 * `/${service}/${method}`. For a plain URL that is its origin (and path
 * prefix); for a ClientFactory target it is the target's name.
 */
function targetOf(url: string, service: string, method: string): string {
  const suffix = `/${service}/${method}`;
  return url.endsWith(suffix) ? url.slice(0, -suffix.length) : url;
}
