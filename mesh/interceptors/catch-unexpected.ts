import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ServerInterceptor } from "../server/unary-call.js";

/**
 * The catch-all: anything a handler throws that is not a ConnectError is a bug
 * or an outage the caller cannot act on. It becomes Internal with a fixed
 * message; the original error (message, stack) goes to the log only, never to
 * the wire. ConnectErrors pass through; their causes are logged for the
 * server-side codes, where an operator needs them.
 */
export function catchUnexpected(logger: Logger): ServerInterceptor {
  return (next) => async (request, context) => {
    try {
      return await next(request, context);
    } catch (err) {
      const rpc = `${context.service.typeName}/${context.method.name}`;
      if (err instanceof ConnectError) {
        if (isServerSide(err.code)) {
          logger.error({ rpc, code: Code[err.code], err: err.cause ?? err }, "rpc failed");
        }
        throw err;
      }
      logger.error({ rpc, err }, "unexpected error in handler");
      throw new ConnectError("internal error", Code.Internal);
    }
  };
}

function isServerSide(code: Code): boolean {
  return code === Code.Internal || code === Code.Unknown || code === Code.DataLoss;
}
