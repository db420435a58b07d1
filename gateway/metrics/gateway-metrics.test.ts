import { Code } from "@connectrpc/connect";
import { expect } from "chai";
import { Registry } from "prom-client";
import { createGatewayMetrics, type GatewayMetrics } from "./gateway-metrics.js";

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const rendered = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${rendered}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("createGatewayMetrics", () => {
  let registry: Registry;
  let metrics: GatewayMetrics;
  beforeEach(() => {
    registry = new Registry();
    metrics = createGatewayMetrics({ registry });
  });

  it("records gateway requests by protocol, route, method, status and code, and those in flight", async () => {
    const route = "/v1/inventory/items/{sku}";
    const found = metrics.request("rest", "GET");
    found.route = route;
    const missing = metrics.request("rest", "GET");
    missing.route = route;
    missing.code = Code.NotFound;
    const unmatched = metrics.request("rest", "BREW");
    const passthrough = metrics.request("grpc-web", "POST");
    passthrough.route = "/meshwork.orders.v1.OrderService/PlaceOrder";
    passthrough.code = Code.Unavailable;
    const pending = metrics.request("rest", "POST");
    for (const [o, status] of [[found, 200], [missing, 404], [unmatched, 404], [passthrough, 200]] as const) {
      o.end(status);
      o.end(status);
    }
    const text = await registry.metrics();
    const rest = { protocol: "rest", route, method: "GET" };
    expect(sample(text, "meshwork_gateway_requests_total", { ...rest, status: "200", code: "ok" })).to.equal(1);
    expect(sample(text, "meshwork_gateway_requests_total", { ...rest, status: "404", code: "not_found" })).to.equal(1);
    expect(sample(text, "meshwork_gateway_requests_total", { protocol: "rest", route: "unmatched", method: "other", status: "404", code: "unknown" })).to.equal(1);
    expect(
      sample(text, "meshwork_gateway_requests_total", {
        protocol: "grpc-web",
        route: passthrough.route,
        method: "POST",
        status: "200",
        code: "unavailable",
      }),
    ).to.equal(1);
    expect(sample(text, "meshwork_gateway_request_duration_seconds_count", rest)).to.equal(2);
    expect(sample(text, "meshwork_gateway_in_flight", { protocol: "rest" })).to.equal(1);
    expect(sample(text, "meshwork_gateway_in_flight", { protocol: "grpc-web" })).to.equal(0);
    pending.end(200);
  });

});
