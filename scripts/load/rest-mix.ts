import http from "node:http";
import type { SendRequest } from "./open-loop.js";

/** One virtual customer: its id and a bearer token the gateway accepts for it. */
export interface VirtualCustomer {
  readonly id: string;
  readonly token: string;
}

export interface RestMixOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. */
  readonly gatewayUrl: string;
  readonly customers: readonly VirtualCustomer[];
  /** The SKUs to browse and order. */
  readonly skus: readonly string[];
  /** Makes request ids unique to this run, so that PlaceOrder's idempotency does not replay another run's orders. */
  readonly runId: string;
  /** The card token of every order. Default: tok_visa. */
  readonly cardToken?: string;
  /** Connections to the gateway. Default: 64. */
  readonly connections?: number;
}

/** The mix, out of 20 requests: what a shop's traffic looks like, reads first. */
const mix = [
  ...Array<"browse">(8).fill("browse"), // 40% GET /v1/inventory/items
  ...Array<"item">(6).fill("item"), // 30% GET /v1/inventory/items/{sku}
  ...Array<"order">(3).fill("order"), // 15% POST /v1/orders
  ...Array<"orders">(3).fill("orders"), // 15% GET /v1/orders
] as const;

/** The kind of request number `index` in the REST mix. */
export function restMixKind(index: number): (typeof mix)[number] {
  return mix[index % mix.length]!;
}

/**
 * The gateway's REST routes under a realistic mix: browse the catalogue
 * (40%), get one item (30%), place an order of one unit with a fresh request
 * id (15%), list the customer's orders (15%). Every request is a virtual
 * customer's, with its own token, so each customer has its own rate-limit
 * bucket as real users would. The outcome is "ok" for a 2xx, else the code
 * of the gateway's JSON error ("unavailable", "resource_exhausted", ...), or
 * "http_<status>" when the body has none.
 */
export function restMix(options: RestMixOptions): { send: SendRequest; close(): Promise<void> } {
  const { gatewayUrl, customers, skus, runId } = options;
  const cardToken = options.cardToken ?? "tok_visa";
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections ?? 64 });
  const target = new URL(gatewayUrl);
  const send: SendRequest = async (index) => {
    const customer = customers[index % customers.length]!;
    const sku = skus[Math.floor(index / mix.length) % skus.length]!;
    const headers: Record<string, string> = { authorization: `Bearer ${customer.token}` };
    let path: string;
    let method: "GET" | "POST" = "GET";
    let body: string | undefined;
    switch (restMixKind(index)) {
      case "browse":
        path = "/v1/inventory/items?page_size=10";
        break;
      case "item":
        path = `/v1/inventory/items/${encodeURIComponent(sku)}`;
        break;
      case "order":
        path = "/v1/orders";
        method = "POST";
        headers["content-type"] = "application/json";
        body = JSON.stringify({ requestId: `load-${runId}-${index}`, lines: [{ sku, quantity: 1 }], cardToken });
        break;
      case "orders":
        path = "/v1/orders?page_size=10";
        break;
    }
    const { status, text } = await exchange(agent, target, method, path, headers, body).catch(() => ({ status: 0, text: "" }));
    if (status === 0) {
      return "connection_error";
    }
    if (status < 300) {
      return "ok";
    }
    try {
      const code = (JSON.parse(text) as { code?: unknown }).code;
      return typeof code === "string" ? code : `http_${status}`;
    } catch {
      return `http_${status}`;
    }
  };
  return {
    send,
    close: async () => agent.destroy(),
  };
}

/** One HTTP/1.1 request on the keep-alive pool: the status and the body as text. */
function exchange(
  agent: http.Agent,
  target: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.once("error", reject);
    });
    req.once("error", reject);
    req.end(body);
  });
}
