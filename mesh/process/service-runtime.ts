// What every Meshwork process main sets up the same way, from its environment:
// logger, tracing, metrics, data directory, fault injection, client factory,
// serve options and the last step of its shutdown. A main keeps only what is its own (store,
// domain, handlers, events, its shutdown order).
import { toJson } from "@bufbuild/protobuf";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { FaultConfigSchema, FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { ClientFactory } from "../client/client-factory.js";
import { envChoice, envInt, envString, type Env } from "../env.js";
import { identityCheck } from "../health/identity-check.js";
import { meshTlsFromEnv } from "../identity/tls-from-env.js";
import type { WorkloadCredentials } from "../identity/workload-credentials.js";
import { createLogger, type Logger } from "../logger.js";
import { createMeshMetrics, type MeshMetrics } from "../metrics/mesh-metrics.js";
import { metricsEndpoint } from "../metrics/metrics-endpoint.js";
import type { ConnectionLimits } from "../server/connection-limits.js";
import { connectionLimitsFromEnv } from "./connection-limits-from-env.js";
import { openFileLimit } from "./open-file-limit.js";
import { meshEnvs, refuseDevFallbacks, runtimeDevFallbacks, type DevFallback, type MeshEnv } from "./production-mode.js";
import { faultConfigFromSetting } from "../faults/fault-config.js";
import { FaultInjector } from "../faults/fault-injector.js";
import { faultServer } from "../faults/fault-server.js";
import { faultService } from "../faults/fault-service.js";
import { registration, serve, type MeshServer, type ServeOptions } from "../server/serve.js";
import { tracingFromEnv, type Tracing } from "../telemetry/index.js";
import { Gauge } from "prom-client";
import { routingMetrics } from "../metrics/routing-metrics.js";
import { createRoutingService } from "../routing/routing-service.js";
import { RouteTable } from "../routing/route-table.js";
import { watchRouteFile, type RouteFileWatch } from "../routing/route-file.js";

export interface ServiceRuntimeOptions {
  /** The port when PORT is unset: each process of the demo has its own, so all run on one host. */
  readonly defaultPort: number;
}

/** What `serve` takes from the main; the runtime fills in the rest (see `ServiceRuntime.serve`). */
export type ServiceServeOptions = Omit<ServeOptions, "logger" | "tracer" | "shutdownDelayMs" | "port" | "host" | "limits">;

export interface ServiceClientsOptions {
  /**
   * Count the factory's calls, resilience events and breaker states in this
   * process's metrics. Default: true.
   */
  readonly metered?: boolean;
}

/** A process's shared setup; make it once, first thing in main. */
export interface ServiceRuntime {
  readonly env: Env;
  /** MESH_ENV: `development` (default) or `production`, which refuses every development fallback (see `refuseDevFallbacks`). */
  readonly mode: MeshEnv;
  /**
   * In production, stops the process (a ProductionModeError) naming every
   * development fallback it would start with: the runtime's own (mTLS off
   * with MESH_INSECURE=1, fault injection with MESH_FAULTS) and `own`, the
   * main's (a test hook, a simulated dependency, ...), all in one error. A
   * main calls it once it has read its configuration, before it opens a store
   * or listens; `serve` calls it, with none of the main's, if the main has not.
   * In development it does nothing: each fallback warns where it is read.
   */
  refuseDevFallbacks(own?: readonly DevFallback[]): void;
  /** Named after the process; level from LOG_LEVEL (default info). */
  readonly logger: Logger;
  /** OTLP/HTTP export and sampling from the standard OTEL_* variables. */
  readonly tracing: Tracing;
  /** Prometheus metrics, served at GET /metrics on the process's own port; process series included. */
  readonly metrics: MeshMetrics;
  /** DATA_DIR (default .data); made by `dataFile`, not before. */
  readonly dataDir: string;
  /** PORT (default: the process's own, 0 picks a free one) and HOST (default 127.0.0.1). */
  readonly port: number;
  readonly host: string;
  /**
   * Timeouts and caps of the process's port, from CONN_FIRST_BYTE_TIMEOUT_MS,
   * HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS, HTTP_KEEPALIVE_TIMEOUT_MS,
   * HTTP2_IDLE_TIMEOUT_MS, HTTP2_MAX_CONCURRENT_STREAMS, MAX_CONNECTIONS and
   * MAX_HEADER_BYTES; the connection cap fits under the open-file limit.
   */
  readonly limits: ConnectionLimits;
  /**
   * Fault injection, when MESH_FAULTS is set (a JSON FaultConfig, inline or a
   * file path; `{}` arms it with no rules, for FaultService to fill at run
   * time); undefined, and nothing of it in any chain, otherwise.
   */
  readonly faults: FaultInjector | undefined;
  /**
   * The process's workload credentials (MESH_TLS_DIR or MESH_TLS_*_FILE,
   * reloaded when the files change); undefined with MESH_INSECURE=1, which
   * logs a warning at every start. serve() and clients() use them: mTLS on
   * every port and every call, and readiness checks the certificate has not
   * expired.
   */
  readonly tls: WorkloadCredentials | undefined;
  /** The URL of a mesh process on this host's `port`: https:// over mTLS, http:// without (defaults of *_URL variables). */
  localUrl(port: number): string;
  /** `name` inside DATA_DIR, which it makes if missing (e.g. a store's database file). */
  dataFile(name: string): string;
  /**
   * The process's routing rules for targets with versions (mesh/routing),
   * shared by every client factory it makes, served (read and replaced by an
   * operator) by its RoutingService, and loaded from MESH_ROUTES_FILE by
   * `watchRoutes`.
   */
  readonly routes: RouteTable;
  /**
   * SERVICE_VERSION (default "stable"): the version this process is of its
   * service, in its log lines and its meshwork_build_info series, so a canary
   * is told from the stable release in every view.
   */
  readonly version: string;
  /**
   * A client factory traced with this process's tracer (and metered, by
   * default), with the outbound fault rules when fault injection is on and
   * the process's routing rules. Close it on shutdown.
   */
  clients(options?: ServiceClientsOptions): ClientFactory;
  /**
   * Loads MESH_ROUTES_FILE into `routes` and reloads it on change; call it
   * once the clients are made (rules are checked against their targets'
   * versions). Without the variable it does nothing. A bad file at start
   * stops the process naming it; a bad edit later is logged and ignored.
   */
  watchRoutes(): RouteFileWatch | undefined;
  /**
   * serve() with this process's logger, tracer, PORT, HOST, connection limits and
   * SHUTDOWN_DELAY_MS (default 0), the metrics interceptor outermost of
   * `options.interceptors` (then, with fault injection on, the inbound
   * faults, so that metrics count an injected abort as the call's outcome),
   * GET /metrics first of `options.httpRoutes`, and with fault injection on
   * FaultService beside `options.services`; then logs {"url": ...}
   * "serving", the line scripts and tests wait for.
   */
  serve(options: ServiceServeOptions): Promise<MeshServer>;
  /** Flushes and stops tracing: the last step of a main's stop. */
  shutdown(): Promise<void>;
}

/** Reads the environment once; a malformed value stops the process naming the variable. */
export function serviceRuntime(name: string, env: Env, { defaultPort }: ServiceRuntimeOptions): ServiceRuntime {
  const mode = envChoice(env, "MESH_ENV", meshEnvs, "development") || "development";
  const version = envString(env, "SERVICE_VERSION", "stable");
  const baseLogger = createLogger(name, envString(env, "LOG_LEVEL", "info"));
  // A canary's lines say so; the stable release's lines stay as they were.
  const logger = env.SERVICE_VERSION === undefined ? baseLogger : baseLogger.child({ version });
  const tracing = tracingFromEnv(env, name);
  // SUPERVISOR_RESTARTS: set by `make run`'s supervisor when it restarts the process.
  const restarts = env["SUPERVISOR_RESTARTS"];
  const metrics = createMeshMetrics({
    collectProcess: true,
    ...(restarts === undefined ? {} : { processRestarts: envInt(env, "SUPERVISOR_RESTARTS", 0, { min: 0 }) }),
  });
  const dataDir = envString(env, "DATA_DIR", ".data");
  const port = envInt(env, "PORT", defaultPort, { min: 0, max: 65535 });
  const host = envString(env, "HOST", "127.0.0.1");
  const openFiles = openFileLimit();
  const { limits, capped } = connectionLimitsFromEnv(env, openFiles);
  if (capped) {
    logger.warn(
      { max_connections: limits.maxConnections, open_file_limit: openFiles },
      "MAX_CONNECTIONS lowered to fit under the open-file limit (ulimit -n); raise that limit to accept more connections",
    );
  }
  const { credentials: tls, scheme } = meshTlsFromEnv(env, name, {
    onReloadError: (err) => logger.warn({ err: err.message }, "new mTLS credentials could not be loaded; keeping the current ones"),
  });
  if (tls === undefined) {
    logger.warn("MESH_INSECURE=1: mTLS is off. Every port answers anyone in cleartext and no caller is checked; for debugging only");
  } else {
    logger.info({ identity: tls.current.id.uri, not_after: tls.current.notAfter.toISOString() }, "mTLS identity loaded");
    tls.on("change", (next) => logger.info({ identity: next.id.uri, not_after: next.notAfter.toISOString() }, "mTLS identity renewed"));
  }
  const faults = faultInjectionFromEnv(env, logger);
  if (faults !== undefined) {
    metrics.observeFaults(faults);
  }
  let fallbacksRefused = false;
  const refuse = (own: readonly DevFallback[] = []): void => {
    fallbacksRefused = true;
    refuseDevFallbacks(mode, [...runtimeDevFallbacks({ mtls: tls !== undefined, faults: faults !== undefined }), ...own]);
  };
  const routes = new RouteTable();
  const routesFile = envString(env, "MESH_ROUTES_FILE", "");
  let routeWatch: RouteFileWatch | undefined;
  const routing = routingMetrics(metrics.registry, routes);
  new Gauge({
    name: "meshwork_build_info",
    help: "Always 1: the process's service and its version (SERVICE_VERSION), to tell a canary from the stable release.",
    labelNames: ["service", "version"] as const,
    registers: [metrics.registry],
  }).set({ service: name, version }, 1);
  return {
    env,
    mode,
    refuseDevFallbacks: refuse,
    logger,
    tracing,
    metrics,
    dataDir,
    port,
    host,
    limits,
    faults,
    routes,
    version,
    tls,
    localUrl: (localPort) => `${scheme}://127.0.0.1:${localPort}`,
    dataFile(file) {
      mkdirSync(dataDir, { recursive: true });
      return path.join(dataDir, file);
    },
    clients({ metered = true } = {}) {
      const common = { tracer: tracing.tracer, routes, ...(faults === undefined ? {} : { faults }), ...(tls === undefined ? {} : { tls }) };
      if (!metered) {
        return new ClientFactory(common);
      }
      const clients = new ClientFactory({ ...common, interceptors: [metrics.clientInterceptor()] });
      metrics.observeResilience(clients.events);
      metrics.observeBreakers(clients);
      routing.observe(clients.events);
      return clients;
    },
    watchRoutes() {
      if (routesFile !== "" && routeWatch === undefined) {
        routeWatch = watchRouteFile(routesFile, routes, logger);
      }
      return routeWatch;
    },
    async serve(options) {
      if (!fallbacksRefused) {
        refuse();
      }
      const server = await serve({
        ...options,
        // Every process can be told how to route its outbound calls (operators only).
        services: [
          ...options.services,
          createRoutingService(routes, logger),
          ...(faults === undefined ? [] : [registration(FaultService, faultService(faults))]),
        ],
        logger,
        tracer: tracing.tracer,
        interceptors: [
          metrics.serverInterceptor(),
          ...(faults === undefined ? [] : [faultServer(faults)]),
          ...(options.interceptors ?? []),
        ],
        httpRoutes: [metricsEndpoint(metrics), ...(options.httpRoutes ?? [])],
        readiness: [...(tls === undefined ? [] : [identityCheck(tls)]), ...(options.readiness ?? [])],
        ...(tls === undefined
          ? {}
          : {
              tls,
              onRefused: (reason: string, service: string, method: string) => metrics.countRefused(reason, service, method),
              onPeerRejected: (peer: { reason: string }) => metrics.countPeerRefused(peer.reason),
            }),
        shutdownDelayMs: envInt(env, "SHUTDOWN_DELAY_MS", 0, { min: 0 }),
        port,
        host,
        limits,
      });
      logger.info({ url: server.url }, "serving");
      return server;
    },
    shutdown: () => {
      routeWatch?.close();
      tls?.close();
      return tracing.provider.shutdown();
    },
  };
}

/**
 * MESH_FAULTS: unset, no fault injection at all (no interceptor, no
 * FaultService); set, an injector with its rules. Armed injection logs a
 * warning at start and at every change, so that nobody reads an injected
 * failure in the logs as a real one.
 */
function faultInjectionFromEnv(env: Env, logger: Logger): FaultInjector | undefined {
  const setting = envString(env, "MESH_FAULTS", "");
  if (setting === "") {
    return undefined;
  }
  const faults = new FaultInjector({ config: faultConfigFromSetting(setting, "MESH_FAULTS") });
  const describe = () => toJson(FaultConfigSchema, faults.config);
  logger.warn({ faults: describe() }, "fault injection is on (MESH_FAULTS): calls matching these rules are delayed or failed on purpose");
  faults.events.on("changed", () => logger.warn({ faults: describe() }, "fault configuration changed (FaultService)"));
  return faults;
}
