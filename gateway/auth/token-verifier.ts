import { readFile } from "node:fs/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { devAlgorithm } from "./dev-identity.js";
import type { Principal } from "./principal.js";

export interface TokenVerifierOptions {
  /**
   * Where the issuer's public keys are: a JWKS file read once at start (the
   * embedded default, `.data/auth/jwks.json`), or a JWKS URL fetched on demand
   * and cached by jose (refetched when a token names an unknown kid, at most
   * every 30 s).
   */
  readonly jwks: { readonly file: string } | { readonly url: string };
  /** Required `iss`. */
  readonly issuer: string;
  /** Required `aud` (one of the token's audiences). */
  readonly audience: string;
  /**
   * The `alg` values accepted. Default ["ES256"], what the dev key and most
   * issuers sign with. Only asymmetric algorithms are allowed: a symmetric one
   * (HS*) verified against a public key set is the classic key-confusion hole,
   * and `none` is never a signature. jose checks the token's `alg` against this
   * list before it looks at any key.
   */
  readonly algorithms?: readonly string[];
  /**
   * Seconds of clock skew tolerated on exp, nbf and iat. Default 5: enough for
   * NTP-synced hosts, small enough that an expired token dies promptly.
   */
  readonly clockToleranceSec?: number;
}

export interface TokenVerifier {
  /**
   * Verifies an Authorization header value. No header -> undefined (an
   * anonymous caller; whether that is enough is `authorize`'s call). A header
   * that is not `Bearer <token>`, or a token that fails any check ->
   * Unauthenticated, with a message that says what failed and never contains
   * the token. A remote key set that cannot be fetched -> Unavailable: the
   * caller did nothing wrong.
   */
  verify(authorization: string | undefined): Promise<Principal | undefined>;
}

const asymmetricAlgorithms = new Set([
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519",
]);

/** Longer headers are refused unread; real access tokens are well under 4 KiB. */
const maxTokenLength = 8192;

/**
 * RFC 6750 `Bearer <token68>`: the scheme is case-insensitive, exactly one
 * space, and nothing around the token. Anything looser is refused rather than
 * guessed at.
 */
const bearerPattern = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const { issuer, audience, algorithms = [devAlgorithm], clockToleranceSec = 5 } = options;
  if (issuer === "" || audience === "") {
    throw new Error("token verifier: issuer and audience must be non-empty");
  }
  if (algorithms.length === 0) {
    throw new Error("token verifier: algorithms must name at least one algorithm");
  }
  for (const alg of algorithms) {
    if (!asymmetricAlgorithms.has(alg)) {
      throw new Error(`token verifier: algorithm ${JSON.stringify(alg)} is not an asymmetric JWS algorithm`);
    }
  }
  if (!Number.isFinite(clockToleranceSec) || clockToleranceSec < 0) {
    throw new Error(`token verifier: clockToleranceSec must be >= 0, got ${clockToleranceSec}`);
  }
  const keys = "file" in options.jwks ? await localKeySet(options.jwks.file) : createRemoteJWKSet(new URL(options.jwks.url));
  const verifyOptions = {
    issuer,
    audience,
    algorithms: [...algorithms],
    clockTolerance: clockToleranceSec,
    requiredClaims: ["sub", "exp"],
  };

  return {
    async verify(authorization) {
      if (authorization === undefined) {
        return undefined;
      }
      if (authorization.length > maxTokenLength) {
        throw unauthenticated("authorization header too long");
      }
      const token = bearerPattern.exec(authorization)?.[1];
      // eslint-disable-next-line security/detect-possible-timing-attacks -- compares with undefined (no bearer token), not with a secret
      if (token === undefined) {
        throw unauthenticated('authorization header must be "Bearer <token>"');
      }
      let payload;
      try {
        ({ payload } = await jwtVerify(token, keys, verifyOptions));
      } catch (err) {
        throw rejection(err);
      }
      if (typeof payload.sub !== "string" || payload.sub === "") {
        throw unauthenticated("bearer token has an empty subject");
      }
      const scope = payload["scope"] ?? "";
      if (typeof scope !== "string") {
        throw unauthenticated("bearer token scope claim must be a space-separated string");
      }
      return { subject: payload.sub, scopes: new Set(scope.split(" ").filter((s) => s !== "")) };
    },
  };
}

async function localKeySet(file: string): Promise<JWTVerifyGetKey> {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(await readFile(file, "utf8")) as JSONWebKeySet;
  } catch (err) {
    throw new Error(`token verifier: cannot read JWKS file ${file}: ${String(err)}`, { cause: err });
  }
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new Error(`token verifier: ${file} is not a JWKS with at least one key`);
  }
  if (jwks.keys.some((key) => "d" in key || "k" in key)) {
    // A private or symmetric key here means the wrong file was configured.
    throw new Error(`token verifier: ${file} holds private or symmetric key material; give it the public JWKS`);
  }
  return createLocalJWKSet(jwks);
}

function unauthenticated(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.Unauthenticated, undefined, undefined, cause);
}

/**
 * Maps a jose failure to the caller's error. Messages are ours, fixed per
 * failure, so no part of the token reaches the wire; jose's error stays as the
 * cause for logs.
 */
function rejection(err: unknown): ConnectError {
  if (err instanceof errors.JWTExpired) {
    return unauthenticated("bearer token expired", err);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(claimMessage(err.claim, err.reason), err);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return unauthenticated("bearer token algorithm not allowed", err);
  }
  if (err instanceof errors.JOSENotSupported) {
    return unauthenticated("bearer token uses an unsupported header or algorithm", err);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return unauthenticated("bearer token signature invalid", err);
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return unauthenticated("bearer token signed by an unknown key", err);
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return unauthenticated("bearer token malformed", err);
  }
  // Anything else is the key set failing us (remote JWKS timeout, bad response,
  // unusable key), not the caller.
  return new ConnectError("cannot verify bearer tokens right now", Code.Unavailable, undefined, undefined, err);
}

function claimMessage(claim: string, reason: string): string {
  if (reason === "missing") {
    return `bearer token has no "${claim}" claim`;
  }
  switch (claim) {
    case "iss":
      return "bearer token issuer not accepted";
    case "aud":
      return "bearer token audience not accepted";
    case "nbf":
      return "bearer token not yet valid";
    case "iat":
      return "bearer token issued in the future";
    default:
      return `bearer token "${claim}" claim invalid`;
  }
}
