import { importJWK, SignJWT } from "jose";
import { devAlgorithm, devAudience, devIssuer } from "./dev-identity.js";
import { ensureDevKeys } from "./dev-keys.js";

export interface DevTokenOptions {
  /** The `sub` claim: the customer the token speaks for. */
  readonly subject: string;
  /** Joined with spaces into the `scope` claim (e.g. ["meshwork:admin"]); none by default. */
  readonly scopes?: readonly string[];
  /** Lifetime in seconds. Default 3600: long enough for a demo session, short enough to expire the same day. */
  readonly ttlSec?: number;
  /** Default `devIssuer`, what the local gateway expects. */
  readonly issuer?: string;
  /** Default `devAudience`. */
  readonly audience?: string;
}

/**
 * Signs a token with the dev key in `dir`, creating the key first if absent.
 * For local use only: anyone with the key file can mint any identity.
 */
export async function signDevToken(dir: string, options: DevTokenOptions): Promise<string> {
  const { subject, scopes = [], ttlSec = 3600, issuer = devIssuer, audience = devAudience } = options;
  if (subject === "") {
    throw new Error("a dev token needs a non-empty subject");
  }
  if (!Number.isInteger(ttlSec) || ttlSec <= 0) {
    throw new Error(`ttl must be a positive whole number of seconds, got ${ttlSec}`);
  }
  const { kid, signingKey } = await ensureDevKeys(dir);
  const claims = scopes.length > 0 ? { scope: scopes.join(" ") } : {};
  return new SignJWT(claims)
    .setProtectedHeader({ alg: devAlgorithm, kid, typ: "JWT" })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(`${ttlSec}s`)
    .sign(await importJWK(signingKey, devAlgorithm));
}
