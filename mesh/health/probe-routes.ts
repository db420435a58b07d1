import { requestPath, type HttpRoute } from "../metrics/metrics-endpoint.js";
import { evaluateReadiness, type ReadinessCheck } from "./readiness.js";

/** Kubernetes' liveness probe path: the process answers HTTP. */
export const livenessPath = "/healthz";
/** Kubernetes' readiness probe path: the process should get traffic. */
export const readinessPath = "/readyz";

export interface ProbeRoutesOptions {
  /** What readiness needs beyond `serving`, in report order. */
  readonly checks: readonly ReadinessCheck[];
  /**
   * Whether the process is serving: false before it listens and from the
   * moment shutdown starts, so /readyz drops it from load balancing while
   * calls in flight drain. Reported as the "serving" check, first.
   */
  readonly serving: () => boolean;
}

/**
 * GET (or HEAD) /healthz and /readyz as one HttpRoute.
 *
 * /healthz is liveness: 200 `{"status":"SERVING"}` whenever the process
 * answers at all, during shutdown too (restarting a process that is draining
 * would only cut its calls short).
 *
 * /readyz is readiness: 200 `{"status":"ready","checks":{...}}` when every
 * check passes, else 503 `{"status":"not_ready","failed":[names],"checks":{...}}`,
 * each check as `{"ok":bool,"detail"?:string}`.
 */
export function probeRoutes(options: ProbeRoutesOptions): HttpRoute {
  const checks: ReadinessCheck[] = [
    { name: "serving", run: () => (options.serving() ? { ok: true } : { ok: false, detail: "not serving (starting or shutting down)" }) },
    ...options.checks,
  ];
  return (req, res) => {
    const path = requestPath(req);
    if (path !== livenessPath && path !== readinessPath) {
      return false;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-length": 0 });
      res.end();
      return true;
    }
    let status = 200;
    let body: string;
    if (path === livenessPath) {
      body = JSON.stringify({ status: "SERVING" });
    } else {
      const report = evaluateReadiness(checks);
      status = report.status === "ready" ? 200 : 503;
      body = JSON.stringify(report);
    }
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "cache-control": "no-store",
    });
    if (req.method === "HEAD") {
      res.end();
    } else {
      res.end(body);
    }
    return true;
  };
}
