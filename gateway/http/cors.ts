import type { IncomingHttpHeaders } from "node:http";

export interface CorsOptions {
  /** Origins allowed to call the gateway from a browser, e.g. "https://shop.example". "*" allows any (without credentials). */
  readonly allowedOrigins: readonly string[];
  /** How long a browser may cache a preflight answer. Default: 600 s. */
  readonly maxAgeSeconds?: number;
}

/** Request headers a browser may send: REST, Connect and gRPC-Web's own. */
const allowedHeaders = [
  "authorization",
  "content-type",
  "x-request-id",
  "x-request-timeout-ms",
  "traceparent",
  "tracestate",
  "connect-protocol-version",
  "connect-timeout-ms",
  "x-grpc-web",
  "x-user-agent",
  "grpc-timeout",
].join(", ");

/** Response headers a browser script may read. */
const exposedHeaders = [
  "x-request-id",
  "retry-after",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
].join(", ");

export interface CorsDecision {
  /** Headers to add to the response (empty when the origin is not allowed). */
  readonly headers: Record<string, string>;
  /** True for a preflight request, which is answered here with 204. */
  readonly preflight: boolean;
}

/**
 * CORS for the configured origins. A request from another origin gets no
 * CORS headers (the browser then refuses it); a preflight from an allowed
 * origin is answered with the methods and headers the gateway accepts.
 */
export function cors(options: CorsOptions): (method: string, headers: IncomingHttpHeaders) => CorsDecision {
  const any = options.allowedOrigins.includes("*");
  const allowed = new Set(options.allowedOrigins);
  const maxAge = String(options.maxAgeSeconds ?? 600);
  return (method, headers) => {
    const origin = headers.origin;
    const preflight = method === "OPTIONS" && headers["access-control-request-method"] !== undefined;
    if (origin === undefined || !(any || allowed.has(origin))) {
      // The answer depends on Origin: a cache must not serve this refusal to an allowed origin.
      return { headers: any ? {} : { vary: "origin" }, preflight };
    }
    const out: Record<string, string> = {
      "access-control-allow-origin": any ? "*" : origin,
      "access-control-expose-headers": exposedHeaders,
      vary: "origin",
    };
    if (preflight) {
      out["access-control-allow-methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
      out["access-control-allow-headers"] = allowedHeaders;
      out["access-control-max-age"] = maxAge;
    }
    return { headers: out, preflight };
  };
}
