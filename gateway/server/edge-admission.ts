import { Code } from "@connectrpc/connect";
import type { Principal } from "../auth/principal.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import type { ClientAddressOf } from "../http/client-address.js";
import { GatewayError } from "../http/gateway-error.js";
import type { RateLimiter } from "../limits/rate-limiter.js";
import type { GatewayRequest } from "./gateway-request.js";

export interface EdgeAdmissionOptions {
  readonly verifier: TokenVerifier;
  /** Every request, first, keyed by the client's address: cheap, before any work. */
  readonly byAddress: RateLimiter;
  /** After authentication, keyed by the token's subject (an anonymous caller: its address). */
  readonly bySubject: RateLimiter;
  /** The client's address (gateway/http/client-address.ts, TRUSTED_PROXIES). */
  readonly clientAddress: ClientAddressOf;
}

/** A request let in: who it speaks for and its RateLimit-* headers. */
export interface Admitted {
  readonly principal: Principal | undefined;
  readonly headers: Record<string, string>;
}

/**
 * The order of checks at the edge (docs/architecture.md, "The request path"):
 * 1. `byAddress`: a token bucket per client address, for every request, before
 *    anything beyond the request line and the address is looked at; failed
 *    authentication is limited here too;
 * 2. `admit`: the bearer token is verified (Unauthenticated), then the
 *    caller's bucket is taken: per subject, or per address when anonymous.
 * Only then is a body read, decompressed or parsed, or a service called.
 */
export class EdgeAdmission {
  constructor(private readonly options: EdgeAdmissionOptions) {}

  /** The client's address of `req`: its socket peer, or what a trusted proxy says. */
  addressOf(req: GatewayRequest): string {
    return this.options.clientAddress(req.socket?.remoteAddress ?? "", req.headers["x-forwarded-for"]);
  }

  /** Takes a token from the address's bucket; throws 429 (ResourceExhausted with Retry-After) when empty. */
  limitAddress(address: string): void {
    const decision = this.options.byAddress.take(address);
    if (!decision.allowed) {
      throw new GatewayError("rate limit exceeded for this address; retry after the time in Retry-After", Code.ResourceExhausted, 429, decision.headers);
    }
  }

  /** Verifies the Authorization header, then takes from the caller's bucket. */
  async admit(authorization: string | string[] | undefined, address: string): Promise<Admitted> {
    const principal = await this.options.verifier.verify(Array.isArray(authorization) ? authorization[0] : authorization);
    const decision = this.options.bySubject.take(principal === undefined ? `ip:${address}` : `sub:${principal.subject}`);
    if (!decision.allowed) {
      throw new GatewayError("rate limit exceeded; retry after the time in Retry-After", Code.ResourceExhausted, 429, decision.headers);
    }
    return { principal, headers: decision.headers };
  }
}
