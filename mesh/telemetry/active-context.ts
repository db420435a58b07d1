import type { Context } from "@opentelemetry/api";
import { currentInboundCall, type InboundCall } from "../context/inbound-call.js";

// The trace context of the call a handler is serving, where its outbound
// calls find it. It rides on the inbound call that `inboundCallScope` already
// keeps in the mesh's one AsyncLocalStorage, instead of an OTel
// ContextManager: a second AsyncLocalStorage would cost every call again
// (async hooks on Node 20). The WeakMap lets it go with the call.
const contexts = new WeakMap<InboundCall, Context>();

/**
 * Makes `ctx` the active trace context of the current inbound call and
 * returns what puts the previous one back, for the caller to run when what it
 * runs under `ctx` settles (`traceServer` does it in the callback that ends
 * its span: no async frame of its own per call). Outside an inbound-call
 * scope (no `serve`, or `propagateDeadlines: false`) there is nowhere to keep
 * it: nothing is done and it returns undefined; outbound calls then start
 * their own traces.
 */
export function enterActiveContext(ctx: Context): (() => void) | undefined {
  const inbound = currentInboundCall();
  if (inbound === undefined) {
    return undefined;
  }
  const previous = contexts.get(inbound);
  contexts.set(inbound, ctx);
  return () => {
    if (previous === undefined) {
      contexts.delete(inbound);
    } else {
      contexts.set(inbound, previous);
    }
  };
}

/** The active trace context of the inbound call being served, if one was set. */
export function activeContext(): Context | undefined {
  const inbound = currentInboundCall();
  return inbound === undefined ? undefined : contexts.get(inbound);
}
