import { Code, ConnectError } from "@connectrpc/connect";
import type { Requirement } from "./access-policy.js";
import type { Principal } from "./principal.js";

/** The scope an "admin" method needs. */
export const adminScope = "meshwork:admin";

/**
 * Decides whether `principal` (undefined: no token) may call a method with
 * `requirement`. Returns the identity to forward upstream: the principal for
 * "customer" and "admin" methods, undefined for "public" ones, which never
 * act on anyone's behalf. Throws Unauthenticated when a token is needed and
 * missing (the caller can fix it by logging in), PermissionDenied when a token
 * cannot help: admin scope missing, or a method the policy does not expose.
 *
 * Token validity is decided before this, by `TokenVerifier.verify`: an
 * invalid token is refused there, even on a public method.
 */
export function authorize(requirement: Requirement, principal: Principal | undefined): Principal | undefined {
  switch (requirement) {
    case "public":
      return undefined;
    case "customer":
      return required(principal);
    case "admin": {
      const admin = required(principal);
      if (!admin.scopes.has(adminScope)) {
        throw new ConnectError(`this method needs the ${adminScope} scope`, Code.PermissionDenied);
      }
      return admin;
    }
    case "deny":
      throw new ConnectError("this method is not available through the gateway", Code.PermissionDenied);
  }
}

function required(principal: Principal | undefined): Principal {
  if (principal === undefined) {
    throw new ConnectError("this method needs a bearer token", Code.Unauthenticated);
  }
  return principal;
}
