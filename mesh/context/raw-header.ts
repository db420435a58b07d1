import type { HandlerContext } from "@connectrpc/connect";

/**
 * Headers that can give one value as it was sent (the first if repeated)
 * without building a fetch Headers object: the gRPC fast path's handler
 * context and the h2-grpc transport's response, which build `Headers` only
 * when read. Tracing, request ids and the client span's rpc.system read one
 * header per call this way.
 */
export interface RawHeaderSource {
  /** `name` in lower case. */
  rawHeader(name: string): string | undefined;
}

/** One request header of a call (lower-case name), read raw where the context can. */
export function requestHeaderValue(context: HandlerContext, name: string): string | undefined {
  return hasRawHeader(context) ? context.rawHeader(name) : (context.requestHeader.get(name) ?? undefined);
}

/** One response header of a call (lower-case name), read raw where the response can. */
export function responseHeaderValue(response: { readonly header: Headers }, name: string): string | undefined {
  return hasRawHeader(response) ? response.rawHeader(name) : (response.header.get(name) ?? undefined);
}

/** The first value of a node:http2 header. */
export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function hasRawHeader<T extends object>(source: T): source is T & RawHeaderSource {
  return typeof (source as Partial<RawHeaderSource>).rawHeader === "function";
}
