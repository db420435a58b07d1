import { isIPv4 } from "node:net";
import type { DevFallback } from "../../mesh/index.js";
import { devAudience, devIssuer } from "./dev-identity.js";

/** How the gateway was told to verify tokens; "" for a variable left unset. */
export interface AuthSettings {
  /** AUTH_JWKS_URL */
  readonly jwksUrl: string;
  /** AUTH_JWKS_FILE */
  readonly jwksFile: string;
  /** AUTH_ISSUER, or "" when unset (the dev issuer then). */
  readonly issuer: string;
  /** AUTH_AUDIENCE, or "" when unset (the dev audience then). */
  readonly audience: string;
}

/**
 * The development fallbacks of the gateway's token verification, which
 * production mode refuses (mesh/process/production-mode.ts): no JWKS (the
 * gateway would mint its own signing key and trust what it signs), the dev
 * issuer or audience (set to them or left unset), and a JWKS fetched over
 * cleartext http from another host (anyone on the path could swap the keys).
 */
export function authDevFallbacks(settings: AuthSettings): DevFallback[] {
  const fallbacks: DevFallback[] = [];
  if (settings.jwksUrl === "" && settings.jwksFile === "") {
    fallbacks.push({
      variable: "AUTH_JWKS_URL/AUTH_JWKS_FILE",
      fallback: "unset: the gateway would generate its own signing key under DATA_DIR and trust any token signed with it",
    });
  }
  if (settings.issuer === "" || settings.issuer === devIssuer) {
    fallbacks.push({ variable: "AUTH_ISSUER", fallback: `${settings.issuer === "" ? "unset" : "set"}: the development issuer ${devIssuer}` });
  }
  if (settings.audience === "" || settings.audience === devAudience) {
    fallbacks.push({ variable: "AUTH_AUDIENCE", fallback: `${settings.audience === "" ? "unset" : "set"}: the development audience ${devAudience}` });
  }
  if (settings.jwksUrl !== "" && cleartextOffHost(settings.jwksUrl)) {
    fallbacks.push({ variable: "AUTH_JWKS_URL", fallback: `${settings.jwksUrl}: signing keys over cleartext http from another host; use https` });
  }
  return fallbacks;
}

/** An http: URL whose host is not this one (localhost, 127.0.0.0/8, ::1). A URL that does not parse is the verifier's to refuse. */
function cleartextOffHost(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== "http:") {
    return false;
  }
  const host = url.hostname;
  return !(host === "localhost" || host === "[::1]" || (isIPv4(host) && host.startsWith("127.")));
}
