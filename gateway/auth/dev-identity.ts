/**
 * The identity of the embedded default (`make run`, `make token`): one local
 * ES256 signing key, its public JWKS, and the issuer and audience the gateway
 * expects. Gateway main and the scripts both read these, so a token printed by
 * `make token` is one the locally running gateway accepts. Deployed gateways
 * take their issuer, audience and JWKS from configuration instead.
 */

/** `iss` of dev tokens: the gateway's own default address. */
export const devIssuer = "http://localhost:8080";

/** `aud` of dev tokens. */
export const devAudience = "meshwork";

/** The only algorithm dev keys sign with (and the verifier's default allowlist). */
export const devAlgorithm = "ES256";

/** Folder of the dev keys inside the mesh's data directory (`.data/auth`). */
export const devAuthDirName = "auth";

/** The private signing key (a JWK with kid, alg and use), mode 0600. */
export const signingKeyFileName = "signing-key.jwk.json";

/** The public key set the gateway verifies against. */
export const jwksFileName = "jwks.json";
