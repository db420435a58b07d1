import type http from "node:http";
import type http2 from "node:http2";
import type { MeshMetrics } from "./mesh-metrics.js";

/**
 * A plain HTTP route on a server's port, consulted before the RPC handler:
 * it answers the request and returns true, or returns false without touching
 * it. Works for HTTP/1.1 and HTTP/2 alike (Prometheus scrapes over HTTP/1.1).
 */
export type HttpRoute = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => boolean;

/** The path of an HttpRoute's request, without the query. */
export function requestPath(req: { readonly url?: string | undefined }): string {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** Where Prometheus scrapes. */
export const metricsPath = "/metrics";

/**
 * Serves `GET /metrics` (and HEAD) from the metrics' registry in Prometheus
 * text format; any other method on the path gets 405. RPCs are always POST
 * to `/package.Service/Method`, so the path cannot shadow one.
 */
export function metricsEndpoint(metrics: Pick<MeshMetrics, "metricsText" | "contentType">): HttpRoute {
  return (req, res) => {
    if (requestPath(req) !== metricsPath) {
      return false;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-length": 0 });
      res.end();
      return true;
    }
    metrics.metricsText().then(
      (body) => {
        res.writeHead(200, { "content-type": metrics.contentType, "content-length": Buffer.byteLength(body) });
        if (req.method === "HEAD") {
          res.end();
        } else {
          res.end(body);
        }
      },
      (err: unknown) => {
        // A collect callback failed; the scrape fails visibly, the process carries on.
        const body = `metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`;
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
        }
        res.end(body);
      },
    );
    return true;
  };
}
