import { percentDecode } from "./percent-decode.js";

/** A URL path split at `/`: the segments as sent, and each fully percent-decoded. */
export interface PathSegments {
  readonly raw: readonly string[];
  readonly decoded: readonly string[];
}

/**
 * A request's URL path (no query string), split once so every route is matched
 * against the same segments. A `:verb` suffix is ambiguous until a template
 * decides (`/v1/orders/o-1:cancel` is a custom verb; `/v1/files/a:b` is a file
 * named "a:b"), so both readings are kept, as grpc-gateway does.
 */
export interface RequestPath {
  /** The path with the last segment untouched, for templates without a verb. */
  readonly whole: PathSegments;
  /** The path with the text after the last segment's last `:` taken as the verb. */
  readonly withVerb: { readonly segments: PathSegments; readonly verb: string } | undefined;
}

/**
 * Splits a URL path. Returns undefined for a path that does not start with `/`
 * (it matches no route); throws InvalidArgument for malformed percent-encoding
 * anywhere in it (see percentDecode). A `:` written as `%3A` is data, never a
 * verb separator.
 */
export function parseRequestPath(path: string): RequestPath | undefined {
  if (!path.startsWith("/")) {
    return undefined;
  }
  const raw = path.slice(1).split("/");
  const decoded = raw.map((segment) => percentDecode(segment));
  const whole = { raw, decoded };
  const last = raw[raw.length - 1] ?? "";
  const colon = last.lastIndexOf(":");
  if (colon <= 0) {
    return { whole, withVerb: undefined };
  }
  const head = last.slice(0, colon);
  const verbRaw = [...raw.slice(0, -1), head];
  return {
    whole,
    withVerb: {
      segments: { raw: verbRaw, decoded: [...decoded.slice(0, -1), percentDecode(head)] },
      verb: percentDecode(last.slice(colon + 1)),
    },
  };
}
