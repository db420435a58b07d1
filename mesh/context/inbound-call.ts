import { AsyncLocalStorage } from "node:async_hooks";
import type { ServerInterceptor } from "../server/unary-call.js";

/**
 * The call a handler is serving, as outbound calls made while serving it need
 * to see it: its cancellation and its deadline.
 */
export interface InboundCall {
  /** Aborted when the inbound call is cancelled, times out or the server shuts down. */
  readonly signal: AbortSignal;
  /** When the inbound call's deadline passes, in epoch ms; undefined if it has none. */
  readonly deadline: number | undefined;
}

const storage = new AsyncLocalStorage<InboundCall>();

/**
 * A server interceptor that makes the call it wraps the current inbound call
 * for everything the handler does, including its outbound calls (see
 * `deadlineInterceptor`). The signal is read from the context only when asked
 * for: the gRPC fast path builds it lazily, and most calls never need it.
 */
export function inboundCallScope(): ServerInterceptor {
  return (next) => (request, context) => {
    const remainingMs = context.timeoutMs();
    const inbound: InboundCall = {
      get signal() {
        return context.signal;
      },
      deadline: remainingMs === undefined ? undefined : Date.now() + remainingMs,
    };
    return storage.run(inbound, next, request, context);
  };
}

/** The inbound call being served here, or undefined outside a handler under `inboundCallScope`. */
export function currentInboundCall(): InboundCall | undefined {
  return storage.getStore();
}
