import { create, isMessage, type DescMessage, type DescMethodStreaming, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { headerTimeout as grpcTimeoutHeader, parseTimeout } from "@connectrpc/connect/protocol-grpc";

type AnyCall = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;

/**
 * Runs Connect client interceptors around another transport, so that a
 * target's resilience chain sits outside its load balancer (a retry may go to
 * another endpoint; a breaker sees the target as a whole).
 *
 * Inside the chain a call's timeout travels as a grpc-timeout header whatever
 * the wire protocol: the caller's per-call timeout is written there before the
 * interceptors run (as Connect's own transports do), the deadline interceptor
 * reads and rewrites it, and at the bottom it is handed to the endpoint
 * transport as `timeoutMs`, which arms the deadline and puts it on the wire in
 * its own protocol. This layer arms nothing itself: Connect's runUnaryCall
 * would add two AbortControllers, a timer and an abort DOMException per call,
 * and the endpoint transport already does all of that once.
 */
export function withInterceptors(inner: Transport, interceptors: readonly Interceptor[], baseUrl: string): Transport {
  const bottom: AnyCall = (req) => {
    const [header, timeoutMs] = takeTimeout(req.header);
    return req.stream
      ? inner.stream(req.method, req.signal, timeoutMs, header, req.message, req.contextValues)
      : inner.unary(req.method, req.signal, timeoutMs, header, req.message, req.contextValues);
  };
  const chain = interceptors.reduceRight<AnyCall>((next, interceptor) => interceptor(next), bottom);
  const urlOf = (method: DescMethodUnary | DescMethodStreaming): string => `${baseUrl}/${method.parent.typeName}/${method.name}`;
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ) {
      const req: UnaryRequest<I, O> = {
        stream: false,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: urlOf(method),
        signal: signal ?? new AbortController().signal,
        header: withTimeout(header, timeoutMs),
        contextValues: contextValues ?? createContextValues(),
        message: isMessage(input, method.input) ? input : create(method.input, input),
      };
      return chain(req) as Promise<UnaryResponse<I, O>>;
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ) {
      const req: StreamRequest<I, O> = {
        stream: true,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: urlOf(method),
        signal: signal ?? new AbortController().signal,
        header: withTimeout(header, timeoutMs),
        contextValues: contextValues ?? createContextValues(),
        message: normalized(method.input, input),
      };
      return chain(req) as Promise<StreamResponse<I, O>>;
    },
  };
}

async function* normalized<I extends DescMessage>(schema: I, input: AsyncIterable<MessageInitShape<I>>) {
  for await (const message of input) {
    yield isMessage(message, schema) ? message : create(schema, message);
  }
}

function withTimeout(init: HeadersInit | undefined, timeoutMs: number | undefined): Headers {
  const header = new Headers(init);
  if (timeoutMs !== undefined && timeoutMs > 0) {
    header.set(grpcTimeoutHeader, `${Math.ceil(timeoutMs)}m`);
  }
  return header;
}

/** Takes the timeout out of a call's own headers (each attempt has its own copy). */
function takeTimeout(header: Headers): [Headers, number | undefined] {
  const value = header.get(grpcTimeoutHeader);
  if (value === null) {
    return [header, undefined];
  }
  header.delete(grpcTimeoutHeader);
  const parsed = parseTimeout(value, Number.MAX_SAFE_INTEGER);
  if (parsed.error !== undefined) {
    throw parsed.error;
  }
  return [header, parsed.timeoutMs];
}
