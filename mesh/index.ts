// The public surface of the mesh runtime. Services and the gateway import
// from here; anything not named here is internal.
export { serve, registration } from "./server/serve.js";
export type { MeshServer, ServeOptions, ServiceRegistration } from "./server/serve.js";
export type { ServerInterceptor, UnaryCall } from "./server/unary-call.js";
export { HealthStatus, ServingStatus } from "./server/health-service.js";
export { runUntilSignal } from "./server/run-until-signal.js";
export { ClientFactory } from "./client/client-factory.js";
export type { ClientFactoryOptions, TransportKind, ClientTarget } from "./client/client-factory.js";
export { Code, ConnectError, failure, reasonOf, reasonMetadataOf, errorDomain } from "./errors.js";
export { dependencyUnavailable, isDependencyUnavailable, unavailableDependencyOf, dependencyUnavailableReason } from "./dependency-unavailable.js";
export { createLogger } from "./logger.js";
export type { Logger } from "./logger.js";
export { envChoice, envEndpoints, envInt, envString, envTargetEndpoints } from "./env.js";
export type { Env } from "./env.js";
export { openDatabase } from "./sqlite/open-database.js";
export type { OpenDatabaseOptions } from "./sqlite/open-database.js";
export { SqliteSession } from "./sqlite/sqlite-session.js";
export { openPostgres, PostgresDatabase, prepared } from "./postgres/postgres-database.js";
export type { OpenPostgresOptions, Queryable } from "./postgres/postgres-database.js";
export { ensureDatabase } from "./postgres/ensure-database.js";
export { storeFromEnv } from "./store/store-from-env.js";
export type { StoreLocation } from "./store/store-from-env.js";
export { DualProtocolListener } from "./server/dual-protocol-listener.js";
export { meshNodeAdapter } from "./server/mesh-node-adapter.js";
export type { DualProtocolListenerOptions, RequestListener } from "./server/dual-protocol-listener.js";
export { capForFileLimit, connectionLimits, defaultConnectionLimits } from "./server/connection-limits.js";
export type { ConnectionLimits } from "./server/connection-limits.js";
export { createMeshMetrics, latencyBuckets } from "./metrics/mesh-metrics.js";
export type { MeshMetrics, MeshMetricsOptions } from "./metrics/mesh-metrics.js";
export { codeLabel } from "./metrics/code-label.js";
export { metricsEndpoint, metricsPath } from "./metrics/metrics-endpoint.js";
export type { HttpRoute } from "./metrics/metrics-endpoint.js";
export { probeRoutes, livenessPath, readinessPath } from "./health/probe-routes.js";
export type { ProbeRoutesOptions } from "./health/probe-routes.js";
export { evaluateReadiness } from "./health/readiness.js";
export type { CheckResult, ReadinessCheck, ReadinessReport } from "./health/readiness.js";
export { storeCheck } from "./health/store-check.js";
export type { PingableStore } from "./health/store-check.js";
export { breakersCheck } from "./health/breakers-check.js";
export { identityCheck } from "./health/identity-check.js";
export type { BreakerSnapshot } from "./resilience/circuit-breaker.js";
export { bulkheadParty } from "./resilience/bulkhead.js";
export { decodePageToken, encodePageToken } from "./paging/page-token.js";
export type { PagePosition } from "./paging/page-token.js";
export { callingCustomerId, customerIdHeader, customerIdPattern } from "./customer-identity.js";
export { FaultInjector, faultConfigFromSetting, faultService, faultInjectedReason } from "./faults/index.js";
export type { InjectedFault } from "./faults/index.js";
export { routingHeaders } from "./interceptors/forward-request-id.js";
export { mirrorHeader, RouteTable, readRouteFile, watchRouteFile } from "./routing/index.js";
export type { RouteFileWatch, RouteReason, VersionChoice } from "./routing/index.js";
export { serviceRuntime } from "./process/service-runtime.js";
export type { ServiceClientsOptions, ServiceRuntime, ServiceRuntimeOptions, ServiceServeOptions } from "./process/service-runtime.js";
export { ProductionModeError, testHook } from "./process/production-mode.js";
export type { DevFallback, MeshEnv } from "./process/production-mode.js";
export {
  appendToOutbox,
  connectNatsBus,
  createEmbeddedBus,
  createEnvelope,
  deadLetterService,
  embeddedConsumerMigration,
  eventBusFromEnv,
  eventBusServices,
  eventLogMigration,
  eventLogService,
  inboxMigration,
  on,
  outboxMigration,
  startConsumer,
  startOutboxRelay,
  unpackEnvelope,
} from "./events/index.js";
export type {
  ConsumerOptions,
  DeadLetterConsumer,
  Delivery,
  EmbeddedBus,
  EmbeddedBusOptions,
  EnvelopeOptions,
  EventBus,
  EventBusFromEnvOptions,
  EventHandler,
  NatsBusOptions,
  OutboxRelay,
  OutboxRelayOptions,
  SubscribeOptions,
  Subscription,
} from "./events/index.js";
export { accessDeclarations, declaredCallers } from "./access/declared-callers.js";
export type { AccessDeclaration, DeclaredCallers } from "./access/declared-callers.js";
export { defaultTrustDomain, parseWorkloadId, workloadId } from "./identity/spiffe-id.js";
export type { IdentityKind, WorkloadId } from "./identity/spiffe-id.js";
export { WorkloadCredentials, loadCredentials } from "./identity/workload-credentials.js";
export type { LoadedCredentials, WorkloadCredentialsOptions } from "./identity/workload-credentials.js";
export { credentialFilesIn, writeCredentialFiles } from "./identity/credential-files.js";
export type { CredentialFiles } from "./identity/credential-files.js";
export { MeshCa, defaultWorkloadTtlMs } from "./identity/mesh-ca.js";
export { CredentialRenewer } from "./identity/credential-renewer.js";
export { openCaDir } from "./identity/ca-files.js";
