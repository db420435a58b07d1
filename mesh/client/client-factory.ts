import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createBalancedTransport, type BalancedTransport, type EndpointTransport } from "../balancing/balanced-transport.js";
import { dnsEndpoints, staticEndpoints, type DnsEndpointsOptions } from "../balancing/endpoint-resolver.js";
import type { OutlierDetectorOptions } from "../balancing/outlier-detector.js";
import { bulkheadInterceptor, type BulkheadOptions } from "../resilience/bulkhead.js";
import { circuitBreakers, type BreakerSnapshot, type CircuitBreakerOptions } from "../resilience/circuit-breaker.js";
import { deadlineInterceptor, type DeadlineOptions } from "../resilience/deadline.js";
import { ResilienceEvents } from "../resilience/resilience-events.js";
import { retryInterceptor, type RetryOptions } from "../resilience/retry.js";
import type { Tracer } from "@opentelemetry/api";
import { traceClient } from "../telemetry/trace-client.js";
import type { WorkloadCredentials } from "../identity/workload-credentials.js";
import { grpcJsTls, http2TlsOptions, type ClientTls } from "./client-tls.js";
import { withTlsFailuresNamed } from "./endpoint-tls-errors.js";
import { createGrpcJsTransport } from "./grpc-js-transport.js";
import { rotatingTransport } from "./rotating-transport.js";
import { createH2GrpcTransport } from "./h2-grpc-transport.js";
import { forwardRequestId } from "../interceptors/forward-request-id.js";
import { withInterceptors } from "./intercepted-transport.js";
import { faultClient } from "../faults/fault-client.js";
import type { FaultInjector } from "../faults/fault-injector.js";
import { RouteTable } from "../routing/route-table.js";
import { createVersionedTransport } from "../routing/versioned-transport.js";

/** Where one version of a target is: one URL, several, or a DNS name. */
export type TargetEndpoints = string | readonly string[] | DnsEndpointsOptions;

/**
 * How a client reaches its target's endpoints:
 * - "grpc" (default): unary calls go straight onto a reused node:http2
 *   session (h2-grpc-transport: the whole stub on it took 95 µs of client
 *   CPU per call against 311 µs for a bare connect-node gRPC client, which
 *   runs unary calls through its streaming pipeline: bench/RESULTS.md,
 *   bench/client-stack.ts, rows connect-full and connect); streaming calls go
 *   to connect-node's gRPC transport;
 * - "connect": connect-node's Connect protocol (binary) over the same sessions;
 * - "grpc-js": a @grpc/grpc-js channel per endpoint (unary and server
 *   streaming), with the same behaviour and error mapping.
 */
export type TransportKind = "grpc" | "connect" | "grpc-js";

/** Where a target is, and how calls to it are protected. */
export interface ClientTarget {
  /**
   * The target's name in breaker messages, events and logs, e.g. "payments".
   * Default: its endpoints.
   */
  readonly name?: string;
  /**
   * Over mTLS, the workload the target's servers must prove they are: their
   * certificate carries spiffe://<trust domain>/service/<service>. Default:
   * `name`; a target with neither accepts any service of the trust domain.
   */
  readonly service?: string;
  /**
   * One base URL ("http://127.0.0.1:50052"), several (round-robin), or a DNS
   * name resolving to several addresses, re-resolved periodically.
   */
  readonly endpoints: TargetEndpoints;
  /**
   * The target's versions, each with its own endpoints, when it runs more
   * than one (a canary beside the stable release). The first is the stable
   * version: it takes every call no routing rule sends elsewhere. When set,
   * `endpoints` is ignored and calls are routed by the factory's route table
   * (mesh/routing); each version has its own balancer and outlier detection.
   */
  readonly versions?: Readonly<Record<string, TargetEndpoints>>;
  /** Default: "grpc". */
  readonly transport?: TransportKind;
  /** Deadlines. Default: 5 s for every method. */
  readonly timeouts?: Partial<DeadlineOptions>;
  /** Circuit breakers, one per method of the target; false turns them off. */
  readonly breaker?: Omit<CircuitBreakerOptions, "target" | "events"> | false;
  /** Retries of idempotent methods; false turns them off. */
  readonly retry?: Omit<RetryOptions, "target" | "events"> | false;
  /** A cap on concurrent calls to the target; false turns it off. */
  readonly bulkhead?: Omit<BulkheadOptions, "target" | "events"> | false;
  /** Ejection of endpoints that keep failing. */
  readonly outlier?: OutlierDetectorOptions;
}

export interface ClientFactoryOptions {
  /** Receives breaker, retry, bulkhead and ejection events of every target. */
  readonly events?: ResilienceEvents;
  /**
   * Interceptors that run outside the resilience chain of every target, in
   * order (outermost first): e.g. tracing, which then sees one span per
   * logical call with retries as events.
   */
  readonly interceptors?: readonly Interceptor[];
  /**
   * Traces every call with a CLIENT span, child of the inbound call's span,
   * with retries, breaker rejections and ejections as span events. Default:
   * no tracing.
   */
  readonly tracer?: Tracer;
  /**
   * Injects the outbound faults of these rules (mesh/faults) into every
   * target's calls, inside the deadline and outside the breaker and retries.
   * Default: none, and nothing in the chain for it.
   */
  readonly faults?: FaultInjector;
  /**
   * The routing rules applied to targets with `versions` (weights, header
   * matches, sticky cohorts, mirroring). Default: an empty table, so every
   * call goes to each target's stable version.
   */
  readonly routes?: RouteTable;
  /**
   * mTLS with the process's workload credentials, on every transport: each
   * endpoint is https://, a server must present a certificate that chains to
   * the trust bundle and carries the target's SPIFFE id (ClientTarget.service),
   * and a TLS failure names the target and why. New connections use the
   * credentials as they are reloaded; those made with the previous ones take
   * no new calls and close once theirs finish. Default: cleartext (http://).
   */
  readonly tls?: WorkloadCredentials;
}

/** Default deadline of an outbound call when neither caller nor config sets one. */
const defaultTimeoutMs = 5_000;

/**
 * The one way a Meshwork process gets a client for another service: a caller
 * names the service and its target, and every call is protected the same way.
 * Each target gets one chain, outermost first:
 *
 *   forward-request-id -> [tracing] -> [options.interceptors] -> deadline -> [faults] -> circuit breaker -> retry
 *     -> bulkhead -> balancer (round-robin, outlier ejection) -> endpoint transport
 *
 * The deadline is outermost so that retries share one budget; injected
 * faults sit inside it (a delay never outlives the deadline) and outside the
 * breaker and retries, as Envoy's fault filter sits before its router; the breaker
 * sits outside the retry so that a logical call counts once; the bulkhead is
 * innermost of the interceptors so that it caps attempts actually in flight;
 * the balancer is below them all so that a retry may go to another endpoint.
 * Clients of the same target share its chain (one breaker per target and
 * method) and HTTP/2 sessions. Close the factory on shutdown.
 */
export class ClientFactory {
  readonly events: ResilienceEvents;
  private readonly tracing: Interceptor[];
  private readonly targets = new Map<string, { transport: Transport; balancer: BalancedTransport }>();
  private readonly sessions = new Map<string, Http2SessionManager>();
  /** Each target name's breaker views (one per transport kind it is used with). */
  private readonly breakerViews = new Map<string, (() => BreakerSnapshot[])[]>();

  private readonly routeTable: RouteTable;

  constructor(private readonly options: ClientFactoryOptions = {}) {
    this.events = options.events ?? new ResilienceEvents();
    this.routeTable = options.routes ?? new RouteTable();
    // One tracing interceptor per factory, so it subscribes to the events once.
    this.tracing = options.tracer === undefined ? [] : [traceClient(options.tracer, this.events)];
  }

  client<S extends DescService>(service: S, target: string | ClientTarget): Client<S> {
    return createClient(service, this.transportFor(target, service));
  }

  /**
   * The protected transport of a target, for callers that know methods only
   * by their descriptors (the gateway): `transport.unary(method, ...)`.
   * `service`, the service called through it, lets routing rules name its methods.
   */
  transportFor(target: string | ClientTarget, service?: DescService): Transport {
    return this.transport(typeof target === "string" ? { endpoints: target } : target, service);
  }

  /** The route table of targets with versions (the one given in the options, or the factory's own). */
  get routes(): RouteTable {
    return this.routeTable;
  }

  /**
   * The circuit breakers of the target with this name (of every target when
   * none is given) as they are now, one per method called so far (none before
   * the first call, or when its breakers are turned off). Read-only: for
   * readiness checks, metrics and status pages.
   */
  breakerStates(target?: string): BreakerSnapshot[] {
    const views = target === undefined ? [...this.breakerViews.values()].flat() : (this.breakerViews.get(target) ?? []);
    return views.flatMap((snapshot) => snapshot());
  }

  /** Closes every session and stops re-resolution; clients made here stop working. */
  close(): void {
    for (const { balancer } of this.targets.values()) {
      balancer.close();
    }
    for (const session of this.sessions.values()) {
      session.abort();
    }
    this.targets.clear();
    this.sessions.clear();
    this.breakerViews.clear();
  }

  private transport(target: ClientTarget, service: DescService | undefined): Transport {
    const name = target.name ?? describeEndpoints(target.endpoints);
    if (target.versions !== undefined) {
      this.routeTable.registerTarget(name, { versions: Object.keys(target.versions), services: service === undefined ? [] : [service] });
    }
    const key = `${name}\u0000${target.transport ?? "grpc"}`;
    const existing = this.targets.get(key);
    if (existing !== undefined) {
      return existing.transport;
    }
    const events = this.events;
    const kind = target.transport ?? "grpc";
    const scheme = this.options.tls === undefined ? "http" : "https";
    const credentials = this.options.tls;
    const clientTls: ClientTls | undefined =
      credentials === undefined ? undefined : { credentials, service: target.service ?? target.name };
    const balancerOf = (endpoints: TargetEndpoints): BalancedTransport =>
      createBalancedTransport({
        target: name,
        events,
        resolver: resolverOf(endpoints, scheme, name),
        makeTransport: (baseUrl) =>
          clientTls === undefined
            ? this.endpointTransport(baseUrl, kind)
            : withTlsFailuresNamed(
                rotatingTransport(() => this.endpointTransport(baseUrl, kind, clientTls), clientTls.credentials),
                name,
                baseUrl,
              ),
        ...(target.outlier === undefined ? {} : { outlier: target.outlier }),
      });
    const balancer =
      target.versions === undefined
        ? balancerOf(target.endpoints)
        : createVersionedTransport({
            target: name,
            versions: new Map(Object.entries(target.versions).map(([version, endpoints]) => [version, balancerOf(endpoints)])),
            routes: this.routeTable,
            events,
          });
    const chain: Interceptor[] = [
      forwardRequestId(),
      ...this.tracing,
      ...(this.options.interceptors ?? []),
      deadlineInterceptor({ defaultTimeoutMs, ...target.timeouts }),
    ];
    if (this.options.faults !== undefined) {
      chain.push(faultClient(this.options.faults, { target: name, events }));
    }
    if (target.breaker !== false) {
      const breakers = circuitBreakers({ ...target.breaker, target: name, events });
      chain.push(breakers.interceptor);
      this.breakerViews.set(name, [...(this.breakerViews.get(name) ?? []), breakers.snapshot]);
    }
    if (target.retry !== false) {
      chain.push(retryInterceptor({ ...target.retry, target: name, events }));
    }
    if (target.bulkhead !== false) {
      chain.push(bulkheadInterceptor({ maxConcurrent: 64, ...target.bulkhead, target: name, events }));
    }
    const transport = withInterceptors(balancer, chain, name);
    this.targets.set(key, { transport, balancer });
    return transport;
  }

  /**
   * The transport to one endpoint. Cleartext: its HTTP/2 sessions are shared
   * by every target of the same URL. mTLS: each endpoint transport has its
   * own, made with the credentials of the moment and closed with it (see
   * rotatingTransport).
   */
  private endpointTransport(baseUrl: string, kind: TransportKind, clientTls?: ClientTls): EndpointTransport {
    if (kind === "grpc-js") {
      // Closed by the balancer when the endpoint goes away or on close().
      return createGrpcJsTransport({
        address: new URL(baseUrl).host,
        ...(clientTls === undefined ? {} : grpcJsTls(clientTls)),
      });
    }
    const sessionOptions = clientTls === undefined ? undefined : http2TlsOptions(clientTls);
    let sessionManager = sessionOptions === undefined ? this.sessions.get(baseUrl) : undefined;
    if (sessionManager === undefined) {
      sessionManager = new Http2SessionManager(baseUrl, undefined, sessionOptions);
      if (sessionOptions === undefined) {
        this.sessions.set(baseUrl, sessionManager);
      }
    }
    const manager = sessionManager;
    const common = { baseUrl, httpVersion: "2" as const, sessionManager };
    const ownSessions = sessionOptions === undefined ? undefined : () => manager.abort();
    if (kind === "grpc") {
      // Closed by the balancer when the endpoint goes away or on close().
      const transport = createH2GrpcTransport({
        baseUrl,
        fallback: createGrpcTransport(common),
        ...(sessionOptions === undefined ? {} : { sessionOptions }),
      });
      return ownSessions === undefined ? transport : { ...transport, close: () => (transport.close(), ownSessions()) };
    }
    const transport = createConnectTransport({ ...common, useBinaryFormat: true });
    return ownSessions === undefined ? transport : { ...transport, close: ownSessions };
  }
}

/**
 * Where a target's endpoints are, each with the scheme the factory dials
 * (https over mTLS, http otherwise): a wrong one fails at once, naming it.
 */
function resolverOf(endpoints: TargetEndpoints, scheme: "http" | "https", target: string) {
  return typeof endpoints === "string"
    ? staticEndpoints(checkSchemes([endpoints], scheme, target))
    : isUrlList(endpoints)
      ? staticEndpoints(checkSchemes(endpoints, scheme, target))
      : dnsEndpoints({ ...endpoints, protocol: scheme });
}

function checkSchemes(urls: readonly string[], scheme: "http" | "https", target: string): readonly string[] {
  const wrong = urls.find((url) => !url.startsWith(`${scheme}://`));
  if (wrong !== undefined) {
    throw new Error(
      `${target}: endpoint ${wrong} is not ${scheme}://: ${scheme === "https" ? "this client speaks mTLS" : "this client speaks cleartext (no tls credentials)"}`,
    );
  }
  return urls;
}

function isUrlList(endpoints: readonly string[] | DnsEndpointsOptions): endpoints is readonly string[] {
  return Array.isArray(endpoints);
}

function describeEndpoints(endpoints: ClientTarget["endpoints"]): string {
  if (typeof endpoints === "string") {
    return endpoints;
  }
  return isUrlList(endpoints) ? endpoints.join(",") : `dns:${endpoints.host}:${endpoints.port}`;
}
