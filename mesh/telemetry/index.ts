// Tracing for the mesh: what services, the gateway and mains use.
export { createTracing } from "./tracing.js";
export type { Tracing, TracingOptions } from "./tracing.js";
export { traceServer, inServerSpan } from "./trace-server.js";
export type { TraceServerOptions } from "./trace-server.js";
export { traceClient, traceContextKey, traceContextValues } from "./trace-client.js";
export { contextFromHeaders } from "./propagation.js";
export { rpcSystem } from "./rpc-attributes.js";
