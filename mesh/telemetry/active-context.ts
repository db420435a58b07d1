import type { Context } from "@opentelemetry/api";
import { currentInboundCall, type InboundCall } from "../context/inbound-call.js";

// The trace context of the call a handler is serving, where its outbound
// calls find it. It rides on the inbound call that `inboundCallScope` already
// keeps in the mesh's one AsyncLocalStorage, instead of an OTel
// ContextManager: a second AsyncLocalStorage would cost every call again
// (async hooks on Node 20). The WeakMap lets it go with the call.
const contexts = new WeakMap<InboundCall, Context>();

/**
 * Runs `fn` with `ctx` as the active trace context of the current inbound
 * call, restoring the previous one when it settles. Outside an inbound-call
 * scope (no `serve`, or `propagateDeadlines: false`) there is nowhere to keep
 * it and `fn` simply runs: outbound calls then start their own traces.
 */
export async function withActiveContext<T>(ctx: Context, fn: () => Promise<T>): Promise<T> {
  const inbound = currentInboundCall();
  if (inbound === undefined) {
    return fn();
  }
  const previous = contexts.get(inbound);
  contexts.set(inbound, ctx);
  try {
    return await fn();
  } finally {
    if (previous === undefined) {
      contexts.delete(inbound);
    } else {
      contexts.set(inbound, previous);
    }
  }
}

/** The active trace context of the inbound call being served, if one was set. */
export function activeContext(): Context | undefined {
  const inbound = currentInboundCall();
  return inbound === undefined ? undefined : contexts.get(inbound);
}
