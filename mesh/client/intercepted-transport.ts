import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { createContextValues, type ContextValues, type Interceptor, type Transport } from "@connectrpc/connect";
import { runStreamingCall, runUnaryCall } from "@connectrpc/connect/protocol";
import { headerTimeout as grpcTimeoutHeader, parseTimeout } from "@connectrpc/connect/protocol-grpc";

/**
 * Runs Connect client interceptors around another transport, so that a
 * target's resilience chain sits outside its load balancer (a retry may go to
 * another endpoint; a breaker sees the target as a whole).
 *
 * Inside the chain a call's timeout travels as a grpc-timeout header whatever
 * the wire protocol: the caller's per-call timeout is written there before the
 * interceptors run (as Connect's own transports do), the deadline interceptor
 * reads and rewrites it, and at the bottom it is handed to the endpoint
 * transport as `timeoutMs`, which puts it on the wire in its own protocol.
 */
export function withInterceptors(inner: Transport, interceptors: readonly Interceptor[], baseUrl: string): Transport {
  const chain = [...interceptors];
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ) {
      return runUnaryCall<I, O>({
        interceptors: chain,
        signal,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: `${baseUrl}/${method.parent.typeName}/${method.name}`,
          header: withTimeout(header, timeoutMs),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) => {
          const [rest, ms] = takeTimeout(req.header);
          return inner.unary(req.method, req.signal, ms, rest, req.message, req.contextValues);
        },
      });
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ) {
      return runStreamingCall<I, O>({
        interceptors: chain,
        signal,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: `${baseUrl}/${method.parent.typeName}/${method.name}`,
          header: withTimeout(header, timeoutMs),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) => {
          const [rest, ms] = takeTimeout(req.header);
          return inner.stream(req.method, req.signal, ms, rest, req.message, req.contextValues);
        },
      });
    },
  };
}

function withTimeout(init: HeadersInit | undefined, timeoutMs: number | undefined): Headers {
  const header = new Headers(init);
  if (timeoutMs !== undefined && timeoutMs > 0) {
    header.set(grpcTimeoutHeader, `${Math.ceil(timeoutMs)}m`);
  }
  return header;
}

function takeTimeout(header: Headers): [Headers, number | undefined] {
  const value = header.get(grpcTimeoutHeader);
  if (value === null) {
    return [header, undefined];
  }
  const rest = new Headers(header);
  rest.delete(grpcTimeoutHeader);
  const parsed = parseTimeout(value, Number.MAX_SAFE_INTEGER);
  if (parsed.error !== undefined) {
    throw parsed.error;
  }
  return [rest, parsed.timeoutMs];
}
