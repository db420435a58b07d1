import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { callerOf } from "../context/caller.js";
import { inboundCallOf } from "../context/inbound-call.js";
import { reasonOf } from "../errors.js";
import { callLogFields } from "../logger.js";
import type { ServerInterceptor } from "../server/unary-call.js";

/**
 * One log line per unary call at info: the method, the resulting code, the
 * duration, the protocol, the caller's address and mesh identity (over mTLS),
 * the ErrorInfo reason of a failure (e.g. CALLER_NOT_ALLOWED), the call's request id and
 * trace and span ids (from its InboundCall, which trace-server completes; it
 * runs outermost, outside the inbound-call scope, and needs none, so leaf
 * services without the scope log them too). Health checks and reflection,
 * which probes and tools call every few seconds, are logged at debug, so that
 * they do not bury the calls. Skipped entirely (no timing, no object) when
 * the level is not enabled, so a quiet server pays nothing for it.
 */
export function logCall(logger: Logger): ServerInterceptor {
  return (next) => async (request, context) => {
    const level = isProbe(context.service.typeName) ? "debug" : "info";
    if (!logger.isLevelEnabled(level)) {
      return next(request, context);
    }
    const start = performance.now();
    const inbound = inboundCallOf(context);
    let code = "ok";
    let reason: string | undefined;
    try {
      return await next(request, context);
    } catch (err) {
      code = err instanceof ConnectError ? Code[err.code] : Code[Code.Unknown];
      reason = reasonOf(err);
      throw err;
    } finally {
      logger[level](
        {
          ...callLogFields(inbound),
          rpc: `${context.service.typeName}/${context.method.name}`,
          code,
          duration_ms: Math.round((performance.now() - start) * 1000) / 1000,
          protocol: context.protocolName,
          peer: inbound.peer,
          ...callerField(context),
          ...(reason === undefined ? {} : { reason }),
        },
        "rpc",
      );
    }
  };
}

function isProbe(typeName: string): boolean {
  return typeName.startsWith("grpc.health.") || typeName.startsWith("grpc.reflection.");
}

/** The caller's SPIFFE id, when the call came over mTLS with a valid one. */
function callerField(context: HandlerContext): { caller?: string } {
  const caller = callerOf(context);
  return caller.verified ? { caller: caller.id.uri } : {};
}
