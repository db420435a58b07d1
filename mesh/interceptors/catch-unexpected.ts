import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { inboundCallOf } from "../context/inbound-call.js";
import { callLogFields } from "../logger.js";
import type { ServerInterceptor } from "../server/unary-call.js";

/**
 * The catch-all: anything a handler throws that is not a ConnectError is a bug
 * or an outage the caller cannot act on. It becomes Internal with a fixed
 * message; the original error (message, stack) goes to the log only, never to
 * the wire. ConnectErrors pass through; their causes are logged for the
 * server-side codes, where an operator needs them, with the call's request
 * and trace ids (it runs outside the inbound-call scope the logger's mixin
 * reads).
 */
export function catchUnexpected(logger: Logger): ServerInterceptor {
  return (next) => async (request, context) => {
    try {
      return await next(request, context);
    } catch (err) {
      const rpc = `${context.service.typeName}/${context.method.name}`;
      const ids = callLogFields(inboundCallOf(context));
      if (err instanceof ConnectError) {
        if (isServerSide(err.code)) {
          logger.error({ ...ids, rpc, code: Code[err.code], err: err.cause ?? err }, "rpc failed");
        }
        throw err;
      }
      logger.error({ ...ids, rpc, err }, "unexpected error in handler");
      throw new ConnectError("internal error", Code.Internal);
    }
  };
}

function isServerSide(code: Code): boolean {
  return code === Code.Internal || code === Code.Unknown || code === Code.DataLoss;
}
