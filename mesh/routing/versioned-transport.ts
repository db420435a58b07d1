import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type ContextValues, type UnaryResponse } from "@connectrpc/connect";
import type { BalancedTransport } from "../balancing/balanced-transport.js";
import type { ResilienceEvents } from "../resilience/resilience-events.js";
import { chooseVersion, type VersionChoice } from "./choose-version.js";
import type { RouteTable } from "./route-table.js";

/**
 * Where the version a call went to is left for the interceptors outside the
 * balancer (tracing puts it on the client span): the router writes it into
 * the call's context values when it decides.
 */
export const routeChoiceKey = createContextKey<VersionChoice | undefined>(undefined, {
  description: "the version a call was routed to",
});

/** The request header a mirrored copy carries, so the receiver can tell it from real traffic. */
export const mirrorHeader = "x-meshwork-mirror";

export interface VersionedTransportOptions {
  /** The target's name, as the route table knows it. */
  readonly target: string;
  /** One balanced transport per version, in configuration order: the first is the stable version. */
  readonly versions: ReadonlyMap<string, BalancedTransport>;
  readonly routes: RouteTable;
  /** Receives "routed" for every call and "mirrored" for every copy. */
  readonly events?: ResilienceEvents;
  /** A draw in [0, 1) for weights and mirror shares. Default: Math.random. */
  readonly random?: () => number;
}

/**
 * A target's transport over its versions: each call picks a version from the
 * route table (header match, sticky cohort, weights; the stable version when
 * no rule applies), then that version's balancer picks an endpoint. It sits
 * where a single balancer would, below the resilience chain, so a retry is
 * routed again (an attempt the canary failed may land on stable) and one
 * breaker per method still sees the target as a whole.
 *
 * Mirroring (read-only methods only; the route table refuses the rest) sends
 * a copy to the mirror version after choosing, with the same deadline and a
 * `x-meshwork-mirror: 1` header, and never waits for it or reports its result
 * to the caller.
 */
export function createVersionedTransport(options: VersionedTransportOptions): BalancedTransport {
  const { target, versions, routes, events } = options;
  const random = options.random ?? Math.random;
  const stable = versions.keys().next().value;
  if (stable === undefined) {
    throw new Error(`${target}: a versioned target needs at least one version`);
  }
  const transportOf = (version: string): BalancedTransport => {
    const transport = versions.get(version);
    if (transport === undefined) {
      // The route table checks versions before it accepts rules; this is a bug, not bad input.
      throw new ConnectError(`${target}: no version "${version}"`, Code.Internal);
    }
    return transport;
  };
  /** The call's version, and the version a copy goes to when this call is mirrored. */
  const choose = (
    methodName: string,
    header: Headers,
    contextValues: ContextValues | undefined,
  ): { version: string; mirrorTo: string | undefined } => {
    const route = routes.routeFor(target, methodName);
    const choice = chooseVersion(target, route, stable, (name) => header.get(name), random);
    contextValues?.set(routeChoiceKey, choice);
    events?.emit("routed", { target, method: methodName, version: choice.version, reason: choice.reason });
    let mirrorTo: string | undefined;
    if (route?.mirror !== undefined && random() * 100 < route.mirror.percent) {
      mirrorTo = route.mirror.version;
      events?.emit("mirrored", { target, method: methodName, version: mirrorTo });
    }
    return { version: choice.version, mirrorTo };
  };

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      init: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const header = init instanceof Headers ? init : new Headers(init);
      const methodName = `${method.parent.typeName}/${method.name}`;
      const { version, mirrorTo } = choose(methodName, header, contextValues);
      if (mirrorTo !== undefined) {
        const copy = new Headers(header);
        copy.set(mirrorHeader, "1");
        // Not awaited, and its failure is nobody's: the caller's answer comes from `version`.
        transportOf(mirrorTo)
          .unary(method, undefined, timeoutMs, copy, input)
          .catch(() => undefined);
      }
      const started = performance.now();
      try {
        const res = await transportOf(version).unary(method, signal, timeoutMs, header, input, contextValues);
        events?.emit("routedCallEnded", { target, method: methodName, version, code: undefined, seconds: (performance.now() - started) / 1000 });
        return res;
      } catch (e) {
        const code = ConnectError.from(e).code;
        events?.emit("routedCallEnded", { target, method: methodName, version, code, seconds: (performance.now() - started) / 1000 });
        throw e;
      }
    },
    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      init: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ) {
      const header = init instanceof Headers ? init : new Headers(init);
      const { version } = choose(`${method.parent.typeName}/${method.name}`, header, contextValues);
      return transportOf(version).stream(method, signal, timeoutMs, header, input, contextValues);
    },
    close() {
      for (const transport of versions.values()) {
        transport.close();
      }
    },
  };
}
