// The gateway's authentication and authorization: verify a bearer token,
// look up what a method needs in the one access policy, decide.
export { createTokenVerifier } from "./token-verifier.js";
export type { TokenVerifier, TokenVerifierOptions } from "./token-verifier.js";
export type { Principal } from "./principal.js";
export { defaultAccessPolicyFile, loadAccessPolicy, createAccessPolicy } from "./access-policy.js";
export type { AccessPolicy, Requirement } from "./access-policy.js";
export { adminScope, authorize } from "./authorize.js";
export { devAlgorithm, devAudience, devAuthDirName, devIssuer, jwksFileName, signingKeyFileName } from "./dev-identity.js";
export { ensureDevKeys } from "./dev-keys.js";
export { authDevFallbacks } from "./auth-dev-fallbacks.js";
export type { AuthSettings } from "./auth-dev-fallbacks.js";
export type { DevKeys } from "./dev-keys.js";
export { signDevToken } from "./dev-token.js";
export type { DevTokenOptions } from "./dev-token.js";
