import { SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { contextFromHeaders } from "./propagation.js";

/** What an HTTP server knows of a request when it starts answering it. */
export interface HttpRequestInfo {
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** "1.1" or "2.0", as node reports it. */
  readonly httpVersion: string;
}

/** A SERVER span of one HTTP request (see `startHttpServerSpan`). */
export interface HttpServerSpan {
  /** The context to make the parent of the request's outbound calls (`traceContextValues`). */
  readonly context: Context;
  /** The span's trace id, for the request's log lines (also when not sampled). */
  readonly traceId: string;
  readonly spanId: string;
  /** Names the route template the request matched, e.g. "/v1/orders/{order_id}". */
  setRoute(template: string): void;
  /** Ends the span with the response's status; 5xx marks it an error. Later calls do nothing. */
  end(status: number): void;
}

/**
 * Starts the SERVER span of an HTTP request, continuing the trace of its
 * traceparent/tracestate (a browser's) or starting one, with the HTTP
 * semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/):
 * http.request.method, url.path, network.protocol.version, and, once known,
 * http.route (the template, never the path with its ids, so that span names
 * stay few) and http.response.status_code. The span is named
 * "{method} {route}", or "{method}" until a route matches.
 */
export function startHttpServerSpan(tracer: Tracer, request: HttpRequestInfo): HttpServerSpan {
  const parent = contextFromHeaders(request.headers);
  const span: Span = tracer.startSpan(
    request.method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "http.request.method": request.method,
        "url.path": request.path,
        "url.scheme": "http",
        "network.protocol.version": request.httpVersion === "2.0" ? "2" : request.httpVersion,
      },
    },
    parent,
  );
  const { traceId, spanId } = span.spanContext();
  let ended = false;
  return {
    context: trace.setSpan(parent, span),
    traceId,
    spanId,
    setRoute(template) {
      span.setAttribute("http.route", template);
      span.updateName(`${request.method} ${template}`);
    },
    end(status) {
      if (ended) {
        return;
      }
      ended = true;
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}
