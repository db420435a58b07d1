// Consumer-driven contracts: consumers record the calls they make and what
// they read of the answers; providers replay every consumer's contracts.
export { ContractError, findContracts, loadContract, parseContract } from "./contract.js";
export type { Contract, Expectation, ExpectError, ExpectOk, Interaction, SetupCall } from "./contract.js";
export type { Expected, Matcher } from "./field-matcher.js";
export { ContractRecorder, contractJson, writeContract } from "./recorder.js";
export type { ContractRecorderOptions, FieldUse } from "./recorder.js";
export { ContractReplayer, verifyContract } from "./replay.js";
export type { ContractFailure, ReplayOptions } from "./replay.js";
export { createServiceRegistry } from "./service-registry.js";
export type { ServiceRegistry } from "./service-registry.js";
