import type { DescMessage, Message, MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";

/**
 * The one shape every unary RPC takes inside a Meshwork server, whatever the
 * protocol it arrived on (gRPC, Connect or gRPC-Web): a decoded request and
 * Connect's HandlerContext in, a response message out.
 */
export type UnaryCall = (request: Message, context: HandlerContext) => Promise<Message>;

/** What a service implementation may return for a unary method. */
export type UnaryResult = Message | MessageInitShape<DescMessage>;

/**
 * A server interceptor wraps a call: `(next) => (request, context) => ...`.
 * Interceptors are plain functions composed by `chainInterceptors`.
 */
export type ServerInterceptor = (next: UnaryCall) => UnaryCall;

/**
 * Composes interceptors around a call. The first interceptor is the outermost:
 * it sees the request first and the response (or error) last.
 */
export function chainInterceptors(interceptors: readonly ServerInterceptor[], call: UnaryCall): UnaryCall {
  return interceptors.reduceRight((next, interceptor) => interceptor(next), call);
}
