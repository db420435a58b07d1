// Fault injection in the mesh's chains (Envoy fault filter semantics): the
// rules, the server and client interceptors, the operator RPC.
export { emptyFaultConfig, faultConfigFromSetting, faultConfigProblems, parseFaultConfig } from "./fault-config.js";
export { FaultInjector, grpcCodeOfHttpStatus } from "./fault-injector.js";
export type { FaultDirection, FaultedCall, FaultInjectorEvents, FaultInjectorOptions, FaultPlan, InjectedFault } from "./fault-injector.js";
export { faultServer } from "./fault-server.js";
export type { FaultServerOptions } from "./fault-server.js";
export { faultClient } from "./fault-client.js";
export type { FaultClientOptions } from "./fault-client.js";
export { faultService } from "./fault-service.js";
export { faultInjectedReason } from "./run-fault-plan.js";
