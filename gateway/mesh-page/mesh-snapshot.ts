// What the mesh page shows, as /mesh/status.json and each /mesh/stream event
// carry it. Shared by the collector (server) and the page (browser): types only.

/** An endpoint's answer to grpc.health.v1 Check (the process as a whole). */
export type EndpointHealth = "serving" | "not-serving" | "unknown" | "unreachable";

export interface EndpointStatus {
  /** Base URL, e.g. "http://127.0.0.1:50052". */
  readonly url: string;
  readonly health: EndpointHealth;
  /** Why it is not serving (the error's message), or "". */
  readonly detail: string;
  /** GET /readyz: true (200), false (503); null when the process does not serve it. */
  readonly ready: boolean | null;
  /** Whether /metrics answered on the last poll. */
  readonly scraped: boolean;
  /**
   * How many times `make run`'s supervisor restarted the process
   * (meshwork_process_restarts in its last scrape); null when it does not
   * say (not supervised, or not scraped yet).
   */
  readonly restarts: number | null;
}

export interface ServiceStatus {
  readonly name: string;
  /** The owning team, from the service catalogue; null when the catalogue has no entry for it. */
  readonly owner: string | null;
  /** Its tier in the catalogue (1 most critical); null without an entry. */
  readonly tier: number | null;
  /** up: every endpoint serving; degraded: some; down: none. */
  readonly state: "up" | "degraded" | "down";
  readonly endpoints: readonly EndpointStatus[];
}

/**
 * One method over the rate window, summed over a service's endpoints:
 * "server" rows are calls a service answered, "client" rows calls a process
 * made to `target`, "route" rows the gateway's REST routes (when it exports
 * them). Rates are per second; latencies in milliseconds, estimated from
 * the histogram buckets as histogram_quantile does; null when nothing was
 * observed in the window.
 */
export interface MethodStats {
  readonly process: string;
  readonly kind: "server" | "client" | "route";
  /** The called target, for client rows; "" otherwise. */
  readonly target: string;
  /** e.g. "OrderService/PlaceOrder", or a route "POST /v1/orders". */
  readonly method: string;
  readonly ratePerSecond: number;
  /** Share of calls in the window that did not end ok (for routes: status >= 400). */
  readonly errorRate: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Failed calls in the window by code (or HTTP status), e.g. {"unavailable": 12}. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** The last polls' rate and p99, oldest first (one point a poll, up to `historyPoints`): the sparklines. */
  readonly history: { readonly ratePerSecond: readonly number[]; readonly p99Ms: readonly (number | null)[] };
}

/**
 * A call edge of the mesh graph, caller -> callee: traffic from the caller's
 * client metrics over the window; null figures when no call was seen (a
 * dependency the catalogue declares, or one the caller does not meter).
 */
export interface MeshEdge {
  readonly from: string;
  readonly to: string;
  /** The catalogue lists `to` among `from`'s dependencies. */
  readonly declared: boolean;
  readonly ratePerSecond: number | null;
  /** Share of calls in the window not ending ok. */
  readonly errorRate: number | null;
  readonly p99Ms: number | null;
}

/** One SLO of the catalogue, measured. */
export interface SloStatus {
  readonly service: string;
  readonly owner: string;
  readonly slo: string;
  readonly description: string;
  readonly kind: "availability" | "latency";
  /** The method's full name or the route. */
  readonly subject: string;
  /** Percent, e.g. 99.9. */
  readonly objective: number;
  /** Share of good calls over the period (0..1); null when there were no calls. */
  readonly attainment: number | null;
  /** Share of the error budget left (1: untouched; 0 or below: spent); null when there were no calls. */
  readonly budgetRemaining: number | null;
  /**
   * "prometheus": over the 30-day period, from the generated recording rules;
   * "counters": since the processes started, from their own counters (no Prometheus configured).
   */
  readonly source: "prometheus" | "counters";
}

/** A burn-rate alert of the generated rules, pending or firing in Prometheus. */
export interface FiringAlert {
  /** SLOErrorBudgetBurnFast or SLOErrorBudgetBurnSlow. */
  readonly name: string;
  /** "page" or "ticket". */
  readonly severity: string;
  readonly service: string;
  readonly slo: string;
  readonly owner: string;
  readonly state: "pending" | "firing";
  /** When it became active, ms since the epoch. */
  readonly since: number;
}

/** Where SLOs and alerts come from, and whether the last reading worked. */
export interface SloSource {
  readonly kind: "prometheus" | "counters";
  /** The Prometheus server, when configured. */
  readonly url: string;
  /** Why the last reading failed, or "". */
  readonly error: string;
}

export type BreakerState = "closed" | "half-open" | "open";

export interface BreakerStatus {
  /** The process holding the breaker, e.g. "orders". */
  readonly process: string;
  readonly endpoint: string;
  readonly target: string;
  /** e.g. "PaymentService/AuthorizePayment". */
  readonly method: string;
  readonly state: BreakerState;
  /** When it last changed state (ms since the epoch); see `transitionSeen`. */
  readonly lastTransitionAt: number;
  /**
   * How `lastTransitionAt` is known: "exact" from the gateway's own events;
   * "poll" when a poll saw it change (it happened within one poll interval
   * before); "before" when it had already changed when first seen.
   */
  readonly transitionSeen: "exact" | "poll" | "before";
  /** The process did not answer the last poll: this is its last known state. */
  readonly stale: boolean;
}

/** One error response of the gateway. */
export interface RecentError {
  readonly at: number;
  readonly requestId: string;
  /** e.g. "POST /v1/orders". */
  readonly request: string;
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/**
 * A target the gateway routes between versions (mesh/routing): the weights in
 * force and, during or after a canary rollout, its story.
 */
export interface RolloutStatus {
  readonly target: string;
  /** Each version with its weight in percent under the target's all-methods rule (stable first); empty weights: all on stable. */
  readonly weights: readonly { readonly version: string; readonly weight: number }[];
  /** The rollout written with the weights, when there is one. */
  readonly rollout?: {
    readonly canary: string;
    readonly stable: string;
    readonly state: "progressing" | "promoted" | "rolled-back" | "unspecified";
    readonly weight: number;
    /** Oldest first. */
    readonly decisions: readonly { readonly at: number; readonly weight: number; readonly passed: boolean; readonly reason: string }[];
  };
}

export interface MeshSnapshot {
  /** When the poll finished, ms since the epoch. */
  readonly at: number;
  readonly pollIntervalMs: number;
  readonly windowMs: number;
  readonly services: readonly ServiceStatus[];
  readonly methods: readonly MethodStats[];
  /** The mesh graph's edges (its nodes are `services`). */
  readonly edges: readonly MeshEdge[];
  readonly slos: readonly SloStatus[];
  /** Burn-rate alerts pending or firing (Prometheus only). */
  readonly alerts: readonly FiringAlert[];
  readonly sloSource: SloSource;
  readonly breakers: readonly BreakerStatus[];
  /** The gateway's targets with versions, and their rollouts. */
  readonly rollouts: readonly RolloutStatus[];
  /** Newest first. */
  readonly errors: readonly RecentError[];
}
