import { Code, ConnectError } from "@connectrpc/connect";
import type { Context } from "@opentelemetry/api";
import { clientTimeoutMs, type ClientDeadlineLimits } from "../http/client-deadline.js";
import { GatewayError } from "../http/gateway-error.js";
import { methodNotAllowedStatus } from "../http/http-status.js";
import { buildRequest } from "../transcoding/request-message.js";
import { renderResponse } from "../transcoding/response-body.js";
import type { RouteTable } from "../transcoding/route-table.js";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";
import type { EdgeAdmission } from "./edge-admission.js";
import { readBody } from "./read-body.js";
import type { RequestTarget } from "./request-target.js";
import { sendResponse } from "./send-response.js";
import type { UpstreamCaller } from "./upstream-call.js";

/** What the REST routes need of the gateway. */
export interface RestCallOptions {
  readonly routes: RouteTable;
  readonly caller: UpstreamCaller;
  readonly maxBodyBytes: number;
  /** The bounds of a client's own deadline. */
  readonly deadlines: ClientDeadlineLimits;
  readonly admission: EdgeAdmission;
}

/** One REST request, as the gateway knows it when it reaches the routes. */
export interface RestRequest {
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  readonly url: RequestTarget;
  readonly requestId: string;
  /** The client's address (edge-admission.ts), the rate-limit key of an anonymous caller. */
  readonly address: string;
  /** The context of the request's SERVER span, parent of the upstream call's span. */
  readonly traceContext: Context | undefined;
  /** Told the matched route's template, for the access line, the span and the metrics. */
  onRoute(template: string): void;
}

/**
 * Answers a REST/JSON request: matches a route (404, or 405 with Allow),
 * refuses a client deadline below the floor, admits the caller (token,
 * then its rate limit), reads the body, builds the request message, calls
 * the upstream with the client's deadline (capped), aborts the call when the client goes away, and
 * sends the rendered response. Failures throw, for the one error path.
 */
export async function serveRest(options: RestCallOptions, rest: RestRequest): Promise<void> {
  const { req, res, url } = rest;
  const match = options.routes.match(req.method ?? "GET", url.pathname);
  if ("error" in match) {
    if (match.error === "method-not-allowed") {
      throw new GatewayError(`${req.method} is not allowed on ${url.pathname}`, Code.Unimplemented, methodNotAllowedStatus, {
        allow: match.allowed.join(", "),
      });
    }
    throw new ConnectError(`no route for ${req.method} ${url.pathname}`, Code.NotFound);
  }
  rest.onRoute(match.route.template.source);
  const timeoutMs = clientTimeoutMs(req.headers, options.deadlines);
  const admitted = await options.admission.admit(req.headers.authorization, rest.address);
  for (const [name, value] of Object.entries(admitted.headers)) {
    res.setHeader(name, value);
  }
  const body = await readBody(req, options.maxBodyBytes);
  const request = buildRequest(match.route, match.pathParams, url.searchParams, body);
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableEnded) {
      abort.abort(new ConnectError("the client went away", Code.Canceled));
    }
  };
  res.once("close", onClose);
  try {
    const response = await options.caller.call({
      method: match.route.method,
      request,
      headers: req.headers,
      requestId: rest.requestId,
      principal: admitted.principal,
      peer: rest.address,
      ...(rest.traceContext === undefined ? {} : { traceContext: rest.traceContext }),
      timeoutMs,
      signal: abort.signal,
    });
    sendResponse(res, 200, "application/json", renderResponse(match.route, response));
  } finally {
    res.off("close", onClose);
  }
}
