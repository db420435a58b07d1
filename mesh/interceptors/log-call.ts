import type { Message } from "@bufbuild/protobuf";
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
  // "<service>/<method>" once per method, not a new string per call.
  const rpcNames = new WeakMap<object, string>();
  const rpcOf = (context: HandlerContext): string => {
    let rpc = rpcNames.get(context.method);
    if (rpc === undefined) {
      rpc = `${context.service.typeName}/${context.method.name}`;
      rpcNames.set(context.method, rpc);
    }
    return rpc;
  };
  return (next) => (request, context) => {
    const level = isProbe(context.service.typeName) ? "debug" : "info";
    if (!logger.isLevelEnabled(level)) {
      return next(request, context);
    }
    const start = performance.now();
    const inbound = inboundCallOf(context);
    // Written when the call has ended (the inbound call's ids are complete
    // then); a promise chain rather than async/await: one promise and one
    // resumption less per call.
    const write = (code: string, reason: string | undefined): void => {
      const line = callLogFields(inbound) as Record<string, unknown>;
      line.rpc = rpcOf(context);
      line.code = code;
      line.duration_ms = Math.round((performance.now() - start) * 1000) / 1000;
      line.protocol = context.protocolName;
      line.peer = inbound.peer;
      const caller = callerOf(context);
      if (caller.verified) {
        line.caller = caller.id.uri;
      }
      if (reason !== undefined) {
        line.reason = reason;
      }
      logger[level](line, "rpc");
    };
    const logFailure = (err: unknown): void =>
      write(err instanceof ConnectError ? Code[err.code] : Code[Code.Unknown], reasonOf(err));
    let result: Promise<Message>;
    try {
      result = next(request, context);
    } catch (err) {
      // As an async function: a synchronous throw is a rejection.
      logFailure(err);
      return Promise.reject(err);
    }
    return result.then((response) => {
      write("ok", undefined);
      return response;
    }, (err: unknown) => {
      logFailure(err);
      throw err;
    });
  };
}

function isProbe(typeName: string): boolean {
  return typeName.startsWith("grpc.health.") || typeName.startsWith("grpc.reflection.");
}
