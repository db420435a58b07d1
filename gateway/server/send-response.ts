import type { GatewayResponse } from "./gateway-request.js";

/** Sends a whole response: status, content-type, content-length and the body. */
export function sendResponse(res: GatewayResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
