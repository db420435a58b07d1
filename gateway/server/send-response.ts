import type { GatewayResponse } from "./gateway-request.js";

/** Sends a whole response: status, content-type, content-length, any extra headers and the body. */
export function sendResponse(res: GatewayResponse, status: number, contentType: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { ...headers, "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
