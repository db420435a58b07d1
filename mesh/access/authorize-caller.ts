import type { HandlerContext } from "@connectrpc/connect";
import { callerOf } from "../context/caller.js";
import { requestHeaderValue } from "../context/raw-header.js";
import { customerIdHeader } from "../customer-identity.js";
import type { ServerInterceptor } from "../server/unary-call.js";
import type { AccessPolicy } from "./access-policy.js";

/**
 * Refuses a unary call its caller may not make (see AccessPolicy.check),
 * before validation and the handler: the fast path and connect-node's
 * protocols alike, since both run serve()'s one chain.
 */
export function authorizeCaller(policy: AccessPolicy): ServerInterceptor {
  return (next) => (request, context) => {
    const denied = deny(policy, context);
    return denied === undefined ? next(request, context) : Promise.reject(denied);
  };
}

/**
 * The same check for a streaming method's implementation (streams do not
 * pass the unary chain): refused before the implementation runs.
 */
export function authorizeStream<I, O>(
  policy: AccessPolicy,
  impl: (input: I, context: HandlerContext) => AsyncIterable<O>,
): (input: I, context: HandlerContext) => AsyncIterable<O> {
  return async function* (input, context) {
    const denied = deny(policy, context);
    if (denied !== undefined) {
      throw denied;
    }
    yield* impl(input, context);
  };
}

function deny(policy: AccessPolicy, context: HandlerContext) {
  return policy.check(context.method, callerOf(context), requestHeaderValue(context, customerIdHeader) !== undefined);
}
