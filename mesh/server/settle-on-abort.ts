import { ConnectError } from "@connectrpc/connect";
import type { UnaryCall } from "./unary-call.js";

/**
 * A unary call that fails as soon as its context's signal aborts (deadline
 * DeadlineExceeded, shutdown Unavailable, client gone Canceled), whether or
 * not the handler heeds the signal. connect-node aborts the signal at the
 * deadline but answers only when the handler returns, so a handler that
 * ignores it would answer OK after its caller's deadline; the fast path
 * already answers at the deadline. serve() wraps connect-node's routes with
 * it so both paths enforce the deadline themselves (serve.test.ts).
 */
export function settleOnAbort(call: UnaryCall): UnaryCall {
  return (request, context) => {
    const signal = context.signal;
    if (signal.aborted) {
      return Promise.reject(ConnectError.from(signal.reason));
    }
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(ConnectError.from(signal.reason));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    return Promise.race([call(request, context), aborted]).finally(() => signal.removeEventListener("abort", onAbort!));
  };
}
