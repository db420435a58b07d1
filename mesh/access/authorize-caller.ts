import type { HandlerContext } from "@connectrpc/connect";
import { callerOf } from "../context/caller.js";
import { requestHeaderValue } from "../context/raw-header.js";
import { customerIdHeader } from "../customer-identity.js";
import { reasonOf } from "../errors.js";
import type { ServerInterceptor } from "../server/unary-call.js";
import type { AccessPolicy } from "./access-policy.js";

/**
 * Refuses a unary call its caller may not make (see AccessPolicy.check),
 * before validation and the handler: the fast path and connect-node's
 * protocols alike, since both run serve()'s one chain.
 */
export function authorizeCaller(policy: AccessPolicy, onRefused?: RefusalListener): ServerInterceptor {
  return (next) => (request, context) => {
    const denied = deny(policy, context, onRefused);
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
  onRefused?: RefusalListener,
): (input: I, context: HandlerContext) => AsyncIterable<O> {
  return async function* (input, context) {
    const denied = deny(policy, context, onRefused);
    if (denied !== undefined) {
      throw denied;
    }
    yield* impl(input, context);
  };
}

/** Told about every refused call: its ErrorInfo reason, service and method. */
export type RefusalListener = (reason: string, service: string, method: string) => void;

function deny(policy: AccessPolicy, context: HandlerContext, onRefused: RefusalListener | undefined) {
  const denied = policy.check(context.method, callerOf(context), requestHeaderValue(context, customerIdHeader) !== undefined);
  if (denied !== undefined && onRefused !== undefined) {
    onRefused(reasonOf(denied) ?? "UNKNOWN", context.service.typeName, context.method.name);
  }
  return denied;
}
