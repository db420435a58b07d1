// Tracing for the mesh: what services, the gateway and mains use.
export { createTracing } from "./tracing.js";
export type { Tracing, TracingOptions } from "./tracing.js";
export { tracingFromEnv, tracingConfigFromEnv, tracingOptions } from "./tracing-from-env.js";
export type { TracingConfig } from "./tracing-from-env.js";
export { traceServer, inServerSpan } from "./trace-server.js";
export type { TraceServerOptions } from "./trace-server.js";
export { traceClient, traceContextKey, traceContextValues } from "./trace-client.js";
export { startHttpServerSpan } from "./http-server-span.js";
export type { HttpRequestInfo, HttpServerSpan } from "./http-server-span.js";
export { contextFromHeaders } from "./propagation.js";
export { rpcSystem } from "./rpc-attributes.js";
