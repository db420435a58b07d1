import type { DescMethodUnary, DescService } from "@bufbuild/protobuf";
import { create, isMessage } from "@bufbuild/protobuf";
import { createContextValues, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { Tracer } from "@opentelemetry/api";
import { AccessPolicy } from "../access/access-policy.js";
import { authorizeCaller, authorizeStream, type RefusalListener } from "../access/authorize-caller.js";
import { callerKey } from "../context/caller.js";
import { inboundCallScope, peerKey } from "../context/inbound-call.js";
import { attachPeer, peerOfSocket, verifyPeer, type RejectedPeer } from "../identity/peer.js";
import { tlsOptionsOf, type WorkloadCredentials } from "../identity/workload-credentials.js";
import { traceServer } from "../telemetry/trace-server.js";
import { logCall } from "../interceptors/log-call.js";
import { catchUnexpected } from "../interceptors/catch-unexpected.js";
import { validateRequest } from "../interceptors/validate-request.js";
import type { HttpRoute } from "../metrics/metrics-endpoint.js";
import { probeRoutes } from "../health/probe-routes.js";
import type { ReadinessCheck } from "../health/readiness.js";
import type { ConnectionLimits } from "./connection-limits.js";
import { DualProtocolListener } from "./dual-protocol-listener.js";
import { meshNodeAdapter } from "./mesh-node-adapter.js";
import { createGrpcUnaryFastPath, type FastUnaryRoute } from "./grpc-unary-fast-path.js";
import { settleOnAbort } from "./settle-on-abort.js";
import { createHealthService, HealthStatus, ServingStatus } from "./health-service.js";
import { createReflectionServices } from "./reflection-service.js";
import { chainInterceptors, type ServerInterceptor, type UnaryCall, type UnaryResult } from "./unary-call.js";

/** A service and its implementation, as `serve` takes them. */
export interface ServiceRegistration {
  readonly service: DescService;
  readonly impl: Partial<ServiceImpl<DescService>>;
}

/** Pairs a service with its implementation, checking the implementation's type. */
export function registration<S extends DescService>(service: S, impl: ServiceImpl<S>): ServiceRegistration {
  return { service, impl: impl as unknown as Partial<ServiceImpl<DescService>> };
}

export interface ServeOptions {
  /** The services to serve. Health and reflection are added for them. */
  readonly services: readonly ServiceRegistration[];
  /** Where problems are logged. */
  readonly logger: Logger;
  /** The port to listen on; 0 picks a free one. */
  readonly port: number;
  /** The address to bind. Default: 127.0.0.1, so nothing is exposed by accident. */
  readonly host?: string;
  /**
   * Interceptors around every unary call, outermost first. They run inside
   * the catch-all and the inbound-call scope (which outbound calls read for
   * deadline propagation and cancellation) and outside request validation:
   * log-call -> catch-unexpected -> inbound-call-scope -> trace-server -> these -> validate-request -> handler.
   */
  readonly interceptors?: readonly ServerInterceptor[];
  /**
   * Whether outbound calls made while handling a call (through a
   * ClientFactory client) inherit its deadline and cancellation. Default:
   * true. It costs server CPU on every unary call on Node 20, where
   * AsyncLocalStorage turns on async hooks for the whole process (104 against
   * 96 µs per call, about 8%: bench/RESULTS.md, bench/grpc-serving.ts, rows
   * (a') and (a)); a leaf service that calls nothing may turn it off.
   */
  readonly propagateDeadlines?: boolean;
  /**
   * Traces every call with a SERVER span (W3C trace context from the caller);
   * outbound calls made while handling it become its children when
   * propagateDeadlines is on. Default: no tracing.
   */
  readonly tracer?: Tracer;
  /**
   * Plain HTTP routes on the same port, tried in order before the RPC handler
   * for requests the gRPC fast path does not take (GET /metrics, later
   * /healthz and /readyz). RPCs are POSTs to /package.Service/Method, so a
   * route that claims only its own path never shadows one. Default: none.
   */
  readonly httpRoutes?: readonly HttpRoute[];
  /**
   * What GET /readyz needs beyond the server itself serving (e.g. its store
   * open, its required upstreams' breakers not all open). /healthz and /readyz
   * are always served; /readyz answers 503 from the start of shutdown. A
   * failing check does not change the gRPC health status: that one says
   * whether this process takes calls at all (an orders process whose payments
   * breaker is open still answers GetOrder), so in-mesh callers keep using it
   * while Kubernetes stops sending it new external traffic. Default: none.
   */
  readonly readiness?: readonly ReadinessCheck[];
  /**
   * How long shutdown keeps accepting new connections after health goes
   * NOT_SERVING and /readyz 503, before it drains: the time load balancers
   * (Kubernetes endpoints) need to see the probe fail and stop sending
   * traffic. Default: 0, drain at once (nothing in front to tell).
   */
  readonly shutdownDelayMs?: number;
  /** How long in-flight calls may run after shutdown starts. Default: 10 s. */
  readonly gracePeriodMs?: number;
  /** Largest request message, in bytes. Default: 4 MiB, as gRPC's default. */
  readonly readMaxBytes?: number;
  /**
   * Whether unary binary gRPC takes the fast path (grpc-unary-fast-path.ts).
   * False sends every call through connect-node: the reference the fast
   * path must answer like (grpc-edge-cases.test.ts), and a baseline for
   * benchmarks. Default: true.
   */
  readonly grpcFastPath?: boolean;
  /**
   * Timeouts and caps of every connection to the port: first byte, headers,
   * request body, keep-alive and HTTP/2 idle timeouts, concurrent HTTP/2
   * streams, connections, header size. Default: `defaultConnectionLimits`.
   */
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * mTLS with the process's workload credentials (new connections use them
   * as they are reloaded). Every RPC then needs a client certificate that
   * chains to the trust bundle and carries a SPIFFE id of the server's trust
   * domain, and a caller the contract names (meshwork.access.v1, deny by
   * default); x-customer-id only from callers allowed to assert it. What
   * still answers without one: grpc.health.v1 and `httpRoutes` (probes,
   * metrics), over cleartext or TLS, for Kubernetes probes and Prometheus.
   * Default: cleartext with no caller checks, for in-process tests and
   * MESH_INSECURE=1.
   */
  readonly tls?: WorkloadCredentials;
  /**
   * Told about every TLS connection whose client has no valid mesh identity
   * (after the server logged it): e.g. to count refusals by reason.
   */
  readonly onPeerRejected?: (peer: RejectedPeer) => void;
  /** Told about every call refused for who its caller is (with `tls`): e.g. to count refusals by reason. */
  readonly onRefused?: RefusalListener;
}

/** A running server. */
export interface MeshServer {
  readonly port: number;
  /** e.g. http://127.0.0.1:50051 */
  readonly url: string;
  readonly health: HealthStatus;
  /** Whether RPCs need mTLS (ServeOptions.tls). */
  readonly mtls: boolean;
  /**
   * Graceful shutdown: health goes NOT_SERVING, no new connections are
   * accepted, calls in flight finish within the grace period, and whatever is
   * still running then is cancelled with Unavailable.
   */
  shutdown(): Promise<void>;
}

/**
 * Serves services over gRPC, Connect and gRPC-Web on one port (HTTP/2 and
 * HTTP/1.1, over mTLS or cleartext). Every unary call runs through one
 * interceptor chain whatever its protocol: unary gRPC over HTTP/2 takes the
 * fast path, everything else connect-node. With `tls`, the chain refuses
 * callers the contract does not name, and streaming methods get the same
 * check before they start.
 */
export async function serve(options: ServeOptions): Promise<MeshServer> {
  const host = options.host ?? "127.0.0.1";
  const gracePeriodMs = options.gracePeriodMs ?? 10_000;
  const readMaxBytes = options.readMaxBytes ?? 4 * 1024 * 1024;
  // The longest deadline a caller may ask for, on both paths: a longer one
  // (grpc-timeout allows 99,999,999 hours) is refused InvalidArgument as a
  // client bug rather than held open for days.
  const maxTimeoutMs = 24 * 60 * 60 * 1000;
  const shutdown = new AbortController();
  const credentials = options.tls;
  const health = new HealthStatus();
  const reflection = createReflectionServices([...options.services.map((s) => s.service), Health]);
  const all: ServiceRegistration[] = [
    ...options.services,
    registration(Health, createHealthService(health)),
    registration(ReflectionV1, reflection.v1),
    registration(ReflectionV1alpha, reflection.v1alpha),
  ];
  const policy = credentials === undefined ? undefined : new AccessPolicy(all.map((s) => s.service));
  const interceptors: ServerInterceptor[] = [
    logCall(options.logger),
    catchUnexpected(options.logger),
    ...(options.propagateDeadlines === false ? [] : [inboundCallScope()]),
    ...(options.tracer === undefined ? [] : [traceServer(options.tracer)]),
    ...(options.interceptors ?? []),
    ...(policy === undefined ? [] : [authorizeCaller(policy, options.onRefused)]),
    validateRequest(),
  ];

  const routes = new Map<string, FastUnaryRoute>();
  const routerImpls = all.map(({ service, impl }) => {
    const routed: Record<string, unknown> = { ...impl };
    for (const method of service.methods) {
      const handler = impl[method.localName];
      if (handler === undefined) {
        continue;
      }
      if (method.methodKind !== "unary") {
        if (policy !== undefined) {
          routed[method.localName] = authorizeStream(policy, handler as StreamImplLike, options.onRefused);
        }
        continue;
      }
      const call = chainInterceptors(interceptors, asUnaryCall(method as DescMethodUnary, handler));
      routes.set(`/${service.typeName}/${method.name}`, { service, method: method as DescMethodUnary, call });
      routed[method.localName] = settleOnAbort(call);
    }
    return { service, impl: routed };
  });

  const connectHandler = meshNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const { service, impl } of routerImpls) {
        router.service(service, impl as Partial<ServiceImpl<DescService>>);
      }
    },
    shutdownSignal: shutdown.signal,
    readMaxBytes,
    maxTimeoutMs,
    // The caller's address and identity, for the call's log line and
    // authorization (the fast path passes them too).
    contextValues: (req) =>
      createContextValues().set(peerKey, req.socket?.remoteAddress).set(callerKey, peerOfSocket(req.socket)),
  });
  const fastPath =
    options.grpcFastPath === false
      ? undefined
      : createGrpcUnaryFastPath(routes, { readMaxBytes, maxTimeoutMs, shutdownSignal: shutdown.signal });
  const httpRoutes = [
    probeRoutes({ checks: options.readiness ?? [], serving: () => health.get("") === ServingStatus.SERVING }),
    ...(options.httpRoutes ?? []),
  ];
  const listener = new DualProtocolListener(
    (req, res) => {
      for (const route of httpRoutes) {
        if (route(req, res)) {
          return;
        }
      }
      connectHandler(req, res);
    },
    {
      ...(fastPath === undefined ? {} : { takeStream: fastPath }),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(credentials === undefined
        ? {}
        : {
            tls: {
              context: tlsOptionsOf(credentials.current),
              requestCert: true,
              onSecureConnection: (socket) => {
                const peer = verifyPeer(socket, credentials.current.id.trustDomain);
                attachPeer(socket, peer);
                if (!peer.verified) {
                  options.logger.warn(
                    { reason: peer.reason, peer: socket.remoteAddress, detail: peer.detail },
                    "connection without a valid mesh identity: it reaches only probes and metrics",
                  );
                  options.onPeerRejected?.(peer);
                }
              },
              onHandshakeError: (err, socket) =>
                options.logger.warn({ err: err.message, code: (err as NodeJS.ErrnoException).code, peer: socket.remoteAddress }, "TLS handshake failed"),
            },
          }),
    },
  );
  const onCredentials = (): void => listener.setSecureContext(tlsOptionsOf(credentials!.current));
  credentials?.on("change", onCredentials);
  const port = await listener.listen(options.port, host);

  for (const { service } of options.services) {
    health.set(service.typeName, ServingStatus.SERVING);
  }
  health.set("", ServingStatus.SERVING);

  let stopping: Promise<void> | undefined;
  return {
    port,
    url: `${credentials === undefined ? "http" : "https"}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    health,
    mtls: credentials !== undefined,
    shutdown() {
      stopping ??= (async () => {
        credentials?.off("change", onCredentials);
        health.close(ServingStatus.NOT_SERVING);
        if ((options.shutdownDelayMs ?? 0) > 0) {
          await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
        }
        const drained = listener.drain();
        if (!(await settlesWithin(drained, gracePeriodMs))) {
          // Cancel what is still running (handlers see Unavailable) and give
          // the cancellations a moment to reach their clients.
          shutdown.abort();
          await settlesWithin(drained, Math.min(gracePeriodMs, 1000));
        }
        listener.destroy();
      })();
      return stopping;
    },
  };
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type StreamImplLike = (input: unknown, context: HandlerContext) => AsyncIterable<unknown>;

type UnaryImplLike = (request: unknown, context: HandlerContext) => Promise<UnaryResult> | UnaryResult;

/** Adapts an implementation method to a UnaryCall that always returns a message. */
function asUnaryCall(method: DescMethodUnary, impl: UnaryImplLike): UnaryCall {
  return async (request, context) => {
    const result = await impl(request, context);
    return isMessage(result, method.output) ? result : create(method.output, result);
  };
}
