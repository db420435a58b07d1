import type http from "node:http";
import type http2 from "node:http2";

/** A request the gateway answers, over HTTP/1.1 or HTTP/2. */
export type GatewayRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** The response to a GatewayRequest. */
export type GatewayResponse = http.ServerResponse | http2.Http2ServerResponse;
