import type { Code } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { codeLabel, latencyBuckets } from "../../mesh/index.js";

/** How a request reached the gateway: REST/JSON, or passthrough in one of the RPC protocols. */
export type GatewayProtocol = "rest" | "connect" | "grpc-web" | "grpc";

/** One gateway request being answered. */
export interface GatewayRequestObservation {
  /**
   * A bounded name of what the request matched, never the raw path: the
   * HttpRule template ("/v1/orders/{order_id}"), the RPC path of a
   * passthrough call ("/meshwork.orders.v1.OrderService/PlaceOrder"), a
   * fixed document's path, "cors-preflight", or "unmatched" (the default).
   */
  route: string;
  /**
   * The outcome's code, when the gateway knows it. Left undefined, it is
   * "ok" below status 400 and "unknown" from there.
   */
  code: Code | undefined;
  /** Records the request with the HTTP status sent (499: the client went away first). */
  end(status: number): void;
}

/**
 * The gateway's own series (meshwork_gateway_*), beside the mesh's in the
 * process's registry. Labels are bounded: protocols and HTTP methods are
 * closed sets, routes come from the contracts' HttpRule templates, codes
 * from the closed code enum; never an id.
 */
export interface GatewayMetrics {
  /**
   * Starts observing one request the gateway answers: in flight from now,
   * counted and timed when `end` is called (once). `method` is the HTTP
   * method; one outside the standard set is labelled "other".
   */
  request(protocol: GatewayProtocol, method: string): GatewayRequestObservation;
}

export interface GatewayMetricsOptions {
  /** Where the series are registered: the process's registry (`MeshMetrics.registry`), served at /metrics. */
  readonly registry: Registry;
  /** Prefix of every series. Default: "meshwork_". */
  readonly prefix?: string;
}

/** HTTP methods labelled as themselves; any other is "other", so a client cannot mint series. */
const httpMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export function createGatewayMetrics({ registry, prefix = "meshwork_" }: GatewayMetricsOptions): GatewayMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: `${prefix}gateway_requests_total`,
    help:
      "Requests the gateway answered, by protocol (rest, connect, grpc-web, grpc), route (HttpRule template, " +
      "RPC path of a passthrough call, or unmatched), HTTP method, HTTP status and code.",
    labelNames: ["protocol", "route", "method", "status", "code"] as const,
    registers,
  });
  const duration = new Histogram({
    name: `${prefix}gateway_request_duration_seconds`,
    help: "Gateway request time, from the request's headers to the end of its response, upstream call included.",
    labelNames: ["protocol", "route", "method"] as const,
    buckets: [...latencyBuckets],
    registers,
  });
  const inFlight = new Map<GatewayProtocol, number>();
  new Gauge({
    name: `${prefix}gateway_in_flight`,
    help: "Requests the gateway is answering now, by protocol.",
    labelNames: ["protocol"] as const,
    registers,
    collect() {
      for (const [protocol, n] of inFlight) {
        this.set({ protocol }, n);
      }
    },
  });

  return {
    request(protocol, method) {
      const start = performance.now();
      const methodLabel = httpMethods.has(method) ? method : "other";
      inFlight.set(protocol, (inFlight.get(protocol) ?? 0) + 1);
      let open = true;
      return {
        route: "unmatched",
        code: undefined,
        end(status) {
          if (!open) {
            return;
          }
          open = false;
          inFlight.set(protocol, (inFlight.get(protocol) ?? 1) - 1);
          const code = this.code === undefined ? (status < 400 ? "ok" : "unknown") : codeLabel(this.code);
          requests.labels(protocol, this.route, methodLabel, String(status), code).inc();
          duration.labels(protocol, this.route, methodLabel).observe((performance.now() - start) / 1000);
        },
      };
    },
  };
}
