import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ServerInterceptor } from "../server/unary-call.js";

/**
 * One log line per unary call at info: the method, the resulting code, the
 * duration and the protocol. Skipped entirely (no timing, no object) when
 * info is not enabled, so a quiet server pays nothing for it.
 */
export function logCall(logger: Logger): ServerInterceptor {
  return (next) => async (request, context) => {
    if (!logger.isLevelEnabled("info")) {
      return next(request, context);
    }
    const start = performance.now();
    let code = "ok";
    try {
      return await next(request, context);
    } catch (err) {
      code = err instanceof ConnectError ? Code[err.code] : Code[Code.Unknown];
      throw err;
    } finally {
      logger.info(
        {
          rpc: `${context.service.typeName}/${context.method.name}`,
          code,
          ms: Math.round((performance.now() - start) * 1000) / 1000,
          protocol: context.protocolName,
        },
        "rpc",
      );
    }
  };
}
