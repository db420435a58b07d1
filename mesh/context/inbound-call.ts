import { AsyncLocalStorage } from "node:async_hooks";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ServerInterceptor } from "../server/unary-call.js";
import { requestHeaderValue } from "./raw-header.js";

/**
 * The call a handler is serving, as what runs while serving it needs to see
 * it: outbound calls its cancellation and deadline, log lines its request
 * and trace ids.
 */
export interface InboundCall {
  /** Aborted when the inbound call is cancelled, times out or the server shuts down. */
  readonly signal: AbortSignal;
  /** When the inbound call's deadline passes, in epoch ms; undefined if it has none. */
  readonly deadline: number | undefined;
  /** The caller's x-request-id (the gateway's request id), if it sent one. */
  readonly requestId: string | undefined;
  /** The caller's address, as the socket reports it. */
  readonly peer: string | undefined;
  /** One request header of the call, read raw (no Headers object is built); undefined when absent. */
  header(name: string): string | undefined;
  /**
   * The trace and span ids of the call's SERVER span, set by `traceServer`
   * when the call is traced (whether or not it is sampled).
   */
  traceId: string | undefined;
  spanId: string | undefined;
}

/**
 * The caller's address, which the server puts in a call's context values
 * (the transport knows it; Connect's HandlerContext does not carry it).
 */
export const peerKey = createContextKey<string | undefined>(undefined, { description: "remote address" });

const callKey = createContextKey<InboundCall | undefined>(undefined, { description: "inbound call" });

/**
 * The InboundCall of a handler context, made on first ask and kept in its
 * context values: the server interceptors of one call (log-call, the scope,
 * trace-server) share it without AsyncLocalStorage, which leaf services turn
 * off. The header and the signal are read only when asked for: the gRPC fast
 * path builds them lazily.
 */
export function inboundCallOf(context: HandlerContext): InboundCall {
  const existing = context.values.get(callKey);
  if (existing !== undefined) {
    return existing;
  }
  const call = new ContextInboundCall(context);
  context.values.set(callKey, call);
  return call;
}

/** The InboundCall of a handler context if an interceptor already made one. */
export function existingInboundCall(context: HandlerContext): InboundCall | undefined {
  return context.values.get(callKey);
}

class ContextInboundCall implements InboundCall {
  readonly deadline: number | undefined;
  traceId: string | undefined;
  spanId: string | undefined;
  private requestIdHeader: string | null | undefined;

  constructor(private readonly context: HandlerContext) {
    const remainingMs = context.timeoutMs();
    this.deadline = remainingMs === undefined ? undefined : Date.now() + remainingMs;
  }

  get signal(): AbortSignal {
    return this.context.signal;
  }

  get requestId(): string | undefined {
    // Raw on the gRPC fast path: forward-request-id asks on every outbound
    // call, and building the call's Headers for one header costs more than
    // the rest of the lookup.
    if (this.requestIdHeader === undefined) {
      this.requestIdHeader = requestHeaderValue(this.context, "x-request-id") ?? null;
    }
    return this.requestIdHeader ?? undefined;
  }

  get peer(): string | undefined {
    return this.context.values.get(peerKey);
  }

  header(name: string): string | undefined {
    return requestHeaderValue(this.context, name) ?? undefined;
  }
}

const storage = new AsyncLocalStorage<InboundCall>();

/**
 * A server interceptor that makes the call it wraps the current inbound call
 * for everything the handler does, including its outbound calls (see
 * `deadlineInterceptor`) and its log lines (the logger's mixin).
 */
export function inboundCallScope(): ServerInterceptor {
  return (next) => (request, context) => storage.run(inboundCallOf(context), next, request, context);
}

/** The inbound call being served here, or undefined outside a handler under `inboundCallScope`. */
export function currentInboundCall(): InboundCall | undefined {
  return storage.getStore();
}
