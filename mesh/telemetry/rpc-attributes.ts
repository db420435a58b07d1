import type { DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { SpanStatusCode, type Attributes, type Span } from "@opentelemetry/api";

// OpenTelemetry semantic conventions for RPC spans
// (https://opentelemetry.io/docs/specs/semconv/rpc/), the attributes the mesh sets.
export const attrSystem = "rpc.system";
export const attrService = "rpc.service";
export const attrMethod = "rpc.method";
export const attrGrpcStatus = "rpc.grpc.status_code";
export const attrConnectError = "rpc.connect_rpc.error_code";

/** rpc.system for a Connect protocol name: gRPC-Web is gRPC on the wire. */
export function rpcSystem(protocolName: string): "grpc" | "connect_rpc" {
  return protocolName === "connect" ? "connect_rpc" : "grpc";
}

/** What an RPC's span starts with. */
export interface RpcSpanStart {
  /** `meshwork.orders.v1.OrderService/GetOrder` */
  readonly name: string;
  /** Shared by every span of the method: the tracer copies them, nobody may change them. */
  readonly attributes: Attributes;
}

/** Per method and rpc.system, made once: every call's span starts with the same ones. */
const rpcSpans = new WeakMap<DescMethod, Map<string, RpcSpanStart>>();

/** The span name and attributes of an RPC: `meshwork.orders.v1.OrderService/GetOrder`. */
export function rpcSpan(method: DescMethod, system: string): RpcSpanStart {
  let bySystem = rpcSpans.get(method);
  if (bySystem === undefined) {
    bySystem = new Map();
    rpcSpans.set(method, bySystem);
  }
  let start = bySystem.get(system);
  if (start === undefined) {
    start = {
      name: `${method.parent.typeName}/${method.name}`,
      attributes: Object.freeze({ [attrSystem]: system, [attrService]: method.parent.typeName, [attrMethod]: method.name }),
    };
    bySystem.set(system, start);
  }
  return start;
}

/**
 * Codes a server span reports as an error: the ones that say the server
 * failed. The others (NotFound, InvalidArgument, ...) are answers about the
 * request, as the gRPC conventions say; on a client span every code but OK is
 * an error.
 */
const serverErrors: ReadonlySet<Code> = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

/**
 * Records how the call ended: rpc.grpc.status_code (the numeric code, 0 on
 * success, whatever the protocol, so one query covers both), the Connect
 * error code on connect_rpc spans, and the span status.
 */
export function endRpcSpan(
  span: Span,
  side: "server" | "client",
  system: string,
  code: Code | undefined,
  message?: string,
): void {
  span.setAttribute(attrGrpcStatus, code ?? 0);
  if (code !== undefined) {
    if (system === "connect_rpc") {
      span.setAttribute(attrConnectError, connectCodeName(code));
    }
    if (side === "client" || serverErrors.has(code)) {
      span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
    }
  }
  span.end();
}

/** "NotFound" -> "not_found", the Connect protocol's spelling. */
function connectCodeName(code: Code): string {
  return Code[code].replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase());
}
