import type { DescMethodUnary } from "@bufbuild/protobuf";
import { createContextKey, type ConnectRouter, type HandlerContext, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { meshNodeAdapter } from "../../mesh/index.js";
import type { Context } from "@opentelemetry/api";
import type { IncomingHttpHeaders } from "node:http";
import { clientTimeoutMs, type ClientDeadlineLimits } from "../http/client-deadline.js";
import type { Principal } from "../auth/principal.js";
import type { FrontedService, UpstreamCaller } from "./upstream-call.js";

/** Builds a request's context values from the Node request (Connect's hook). */
export type ContextValuesOf = NonNullable<ConnectNodeAdapterOptions["contextValues"]>;

/** What the edge knows of a request before it reaches the passthrough. */
export interface EdgeRequestInfo {
  readonly requestId: string;
  /** Who the request's verified token speaks for (edge-admission.ts); undefined when anonymous. */
  readonly principal: Principal | undefined;
  /** The client's address (edge-admission.ts): the bulkhead party of an anonymous caller. */
  readonly address: string;
  /** The context of the request's SERVER span, parent of the upstream call's span. */
  readonly traceContext?: Context | undefined;
}

export const edgeRequestInfo = createContextKey<EdgeRequestInfo>({ requestId: "", principal: undefined, address: "" }, { description: "edge request" });

/**
 * Connect and gRPC-Web (and gRPC) for the public services, on the gateway's
 * port, so that browsers can use generated connect-web clients. Each method
 * forwards through the same UpstreamCaller as the REST routes: one access
 * policy, one protected client. Validation happens in the service.
 *
 * The edge admits a request (rate limits, token) before it gets here, so a
 * body is read and decompressed only for an admitted caller. `maxBodyBytes`
 * (REST's limit, one setting) is connect-node's readMaxBytes, which it applies
 * twice: to the bytes received (a declared Content-Length above it is refused
 * before reading) and to the message after decompression (zlib stops at it:
 * maxOutputLength), so a gzip bomb costs at most that much memory. Both
 * answer ResourceExhausted. A body that cannot be read (does not parse, bad
 * compression) is InvalidArgument, not connect-node's Internal
 * (meshNodeAdapter).
 */
export function createPassthrough(
  upstreams: readonly FrontedService[],
  caller: UpstreamCaller,
  limits: ClientDeadlineLimits & { readonly maxBodyBytes: number },
  contextValues: ContextValuesOf,
  interceptors: Interceptor[] = [],
): ReturnType<typeof meshNodeAdapter> {
  const { maxBodyBytes, ...deadlines } = limits;
  return meshNodeAdapter({
    readMaxBytes: maxBodyBytes,
    contextValues,
    interceptors,
    routes(router: ConnectRouter) {
      for (const { service } of upstreams) {
        const impl: Record<string, unknown> = {};
        for (const method of service.methods) {
          if (method.methodKind !== "unary") {
            continue;
          }
          impl[method.localName] = async (request: never, ctx: HandlerContext) => {
            const info = ctx.values.get(edgeRequestInfo);
            ctx.responseHeader.set("x-request-id", info.requestId);
            const headers = headersObject(ctx.requestHeader);
            // The floor is checked on the deadline as the client sent it;
            // the call gets what is left of it (Connect counts from arrival).
            const maxTimeoutMs = clientTimeoutMs(headers, deadlines);
            return caller.call({
              method: method as DescMethodUnary,
              request,
              headers,
              requestId: info.requestId,
              principal: info.principal,
              peer: info.address,
              ...(info.traceContext === undefined ? {} : { traceContext: info.traceContext }),
              timeoutMs: Math.min(ctx.timeoutMs() ?? maxTimeoutMs, maxTimeoutMs),
              signal: ctx.signal,
            });
          };
        }
        router.service(service, impl as Partial<ServiceImpl<typeof service>>);
      }
    },
  });
}

function headersObject(headers: Headers): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
