import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import type { ContextValues, StreamResponse, UnaryResponse } from "@connectrpc/connect";
import type { EndpointTransport } from "../balancing/balanced-transport.js";
import type { WorkloadCredentials } from "../identity/workload-credentials.js";

interface Generation {
  readonly transport: EndpointTransport;
  inFlight: number;
  retired: boolean;
}

/**
 * An endpoint transport that starts over with new connections whenever the
 * process's credentials rotate: calls after the change go to a transport made
 * anew (`make`, which dials with the new certificate), calls in flight finish
 * on the old one, which is closed once they have. A connection therefore
 * never outlives the certificate it was made with by more than its longest
 * call, so servers never see a certificate expire under an open connection,
 * and a rotation fails no call.
 */
export function rotatingTransport(make: () => EndpointTransport, credentials: WorkloadCredentials): EndpointTransport {
  let current: Generation = { transport: make(), inFlight: 0, retired: false };
  let closed = false;
  const settle = (generation: Generation): void => {
    generation.inFlight -= 1;
    if (generation.retired && generation.inFlight === 0) {
      generation.transport.close?.();
    }
  };
  const onChange = (): void => {
    if (closed) {
      return;
    }
    const old = current;
    current = { transport: make(), inFlight: 0, retired: false };
    old.retired = true;
    if (old.inFlight === 0) {
      old.transport.close?.();
    }
  };
  credentials.on("change", onChange);
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const generation = current;
      generation.inFlight += 1;
      const call = generation.transport.unary(method, signal, timeoutMs, header, input, contextValues);
      call.then(
        () => settle(generation),
        () => settle(generation),
      );
      return call;
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const generation = current;
      generation.inFlight += 1;
      let response: StreamResponse<I, O>;
      try {
        response = await generation.transport.stream(method, signal, timeoutMs, header, input, contextValues);
      } catch (err) {
        settle(generation);
        throw err;
      }
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
          } finally {
            settle(generation);
          }
        })(),
      };
    },
    close() {
      closed = true;
      credentials.off("change", onChange);
      current.transport.close?.();
    },
  };
}
