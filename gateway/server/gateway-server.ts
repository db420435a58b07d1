import { createContextKey, createContextValues, Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type http from "node:http";
import type http2 from "node:http2";
import type { Context, Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import {
  DualProtocolListener,
  type GatewayProtocol,
  type GatewayRequestObservation,
  type HttpRoute,
  type MeshMetrics,
} from "../../mesh/index.js";
import { startHttpServerSpan, type HttpServerSpan } from "../../mesh/telemetry/index.js";
import { cors, type CorsOptions } from "../http/cors.js";
import { clientTimeoutMs } from "../http/client-deadline.js";
import { errorResponse } from "../http/error-response.js";
import { GatewayError } from "../http/gateway-error.js";
import { headersTooLargeStatus, methodNotAllowedStatus, payloadTooLargeStatus } from "../http/http-status.js";
import { requestIdOf } from "../http/request-id.js";
import { buildRequest } from "../transcoding/request-message.js";
import { renderResponse } from "../transcoding/response-body.js";
import { buildRouteTable } from "../transcoding/route-table.js";
import { createPassthrough, edgeRequestInfo, type ContextValuesOf } from "./passthrough.js";
import type { Upstream, UpstreamCaller } from "./upstream-call.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** A fixed document the gateway serves as is (the web page, OpenAPI). */
export interface StaticAsset {
  readonly contentType: string;
  readonly body: string;
}

export interface GatewayServerOptions {
  readonly upstreams: readonly Upstream[];
  readonly caller: UpstreamCaller;
  readonly logger: Logger;
  readonly cors: CorsOptions;
  /** Largest request body, in bytes. Default: 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest HTTP/1.1 header block, in bytes. Default: 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Longest upstream deadline; a client's own is capped by it. Default: 30 s. */
  readonly maxTimeoutMs?: number;
  /** Documents served at fixed GET paths: "/", "/app.js", "/openapi.json". */
  readonly assets?: Readonly<Record<string, StaticAsset>>;
  /**
   * Routes that answer for themselves (e.g. a live event stream), consulted
   * in order after the assets and before the REST routes.
   */
  readonly httpRoutes?: readonly HttpRoute[];
  /**
   * Traces every request with a SERVER span that continues the client's
   * traceparent (or starts a trace), parent of its upstream calls' CLIENT
   * spans. Default: no tracing.
   */
  readonly tracer?: Tracer;
  /** Told of every request the gateway itself answered with an error (not passthrough calls). */
  readonly onFailure?: (failure: GatewayFailure) => void;
  /**
   * Counts, times and tracks in flight every request (meshwork_gateway_*),
   * except those an httpRoute answers: probes, scrapes and pages are not API
   * traffic. Default: none.
   */
  readonly metrics?: Pick<MeshMetrics, "gatewayRequest">;
}

/** One error response of the gateway, as the client received it. */
export interface GatewayFailure {
  readonly requestId: string;
  /** e.g. "POST /v1/orders", the path as sent. */
  readonly request: string;
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/**
 * The edge: one port, HTTP/1.1 and HTTP/2, serving REST/JSON routes built
 * from the contracts' google.api.http rules, Connect/gRPC-Web passthrough of
 * the same services, and a few fixed documents. Every failure, whatever its
 * origin, leaves as JSON `{code, message, details}` with the status of the
 * one code table (passthrough calls answer in their own protocol).
 */
export class GatewayServer {
  private readonly listener: DualProtocolListener;
  private readonly routes;
  private readonly passthrough;
  private readonly passthroughPrefixes: string[];
  /** "/package.Service/Method" of every passthrough method: the bounded routes of passthrough calls. */
  private readonly passthroughMethods: ReadonlySet<string>;
  private readonly observations = new WeakMap<Request, GatewayRequestObservation>();
  private readonly cors;
  private readonly maxBodyBytes: number;
  private readonly maxTimeoutMs: number;
  /** The span context of a passthrough request, for its upstream call. */
  private readonly passthroughTraces = new WeakMap<Request, Context>();

  constructor(private readonly options: GatewayServerOptions) {
    this.routes = buildRouteTable(options.upstreams.map((u) => u.service));
    this.maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    this.maxTimeoutMs = options.maxTimeoutMs ?? 30_000;
    this.cors = cors(options.cors);
    this.passthroughPrefixes = options.upstreams.map((u) => `/${u.service.typeName}/`);
    this.passthroughMethods = new Set(options.upstreams.flatMap((u) => u.service.methods.map((m) => `/${u.service.typeName}/${m.name}`)));
    this.passthrough = createPassthrough(options.upstreams, options.caller, this.maxTimeoutMs, ((req) =>
      createContextValues().set(edgeRequestInfo, {
        requestId: String(req.headers["x-request-id"] ?? ""),
        peer: req.socket?.remoteAddress ?? "",
        traceContext: this.passthroughTraces.get(req),
      }).set(observationKey, this.observations.get(req))) satisfies ContextValuesOf,
      [recordPassthroughCode],
    );
    this.listener = new DualProtocolListener((req, res) => this.handleSafely(req, res), {
      maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
    });
    this.listener.http1Server.requestTimeout = this.maxTimeoutMs + 5_000;
    // Node would answer an HTTP/1.1 request without Host with an empty 400
    // of its own; the gateway refuses it itself, on the one JSON error path.
    (this.listener.http1Server as http.Server & { requireHostHeader: boolean }).requireHostHeader = false;
    this.listener.http1Server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      const status = err.code === "HPE_HEADER_OVERFLOW" ? headersTooLargeStatus : 400;
      const message = status === headersTooLargeStatus ? "request headers too large" : "malformed HTTP request";
      const body = JSON.stringify({ code: status === 400 ? "invalid_argument" : "resource_exhausted", message, details: [] });
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${status} ${status === 400 ? "Bad Request" : "Request Header Fields Too Large"}\r\n` +
            `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
    });
  }

  listen(port: number, host: string): Promise<number> {
    return this.listener.listen(port, host);
  }

  async close(graceMs = 5_000): Promise<void> {
    const drained = this.listener.drain();
    const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([drained, timer]);
    this.listener.destroy();
  }

  /** The last line of defence: a bug in the gateway ends one response, never the process. */
  private handleSafely(req: Request, res: Response): void {
    this.handle(req, res).catch((err: unknown) => {
      this.options.logger.error({ err }, "gateway bug while answering a request");
      if (!res.headersSent) {
        send(res, 500, "application/json", JSON.stringify({ code: "internal", message: "internal error", details: [] }));
      } else {
        res.destroy();
      }
    });
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const requestId = requestIdOf(req.headers["x-request-id"]);
    req.headers["x-request-id"] = requestId;
    res.setHeader("x-request-id", requestId);
    const corsDecision = this.cors(req.method ?? "GET", req.headers);
    for (const [name, value] of Object.entries(corsDecision.headers)) {
      res.setHeader(name, value);
    }
    const url = splitTarget(req.url ?? "/");
    const passthrough = this.passthroughPrefixes.some((prefix) => url.pathname.startsWith(prefix));
    if (corsDecision.preflight) {
      this.observe(req, res, url.pathname, passthrough).route = "cors-preflight";
      res.writeHead(204);
      res.end();
      return;
    }
    const answer = this.traceAndLog(req, res, url, requestId);
    if (passthrough) {
      // A passthrough path names one RPC: it is its own route template.
      answer.setRoute(url.pathname);
      this.observe(req, res, url.pathname, true);
      if (answer.span !== undefined) {
        this.passthroughTraces.set(req, answer.span.context);
      }
      this.passthrough(req as http.IncomingMessage, res as http.ServerResponse);
      return;
    }
    // Requests an httpRoute answers (probes, scrapes, pages) are not observed:
    // not API traffic, and a scrape would see itself in flight.
    let observed: GatewayRequestObservation | undefined;
    try {
      if (req.httpVersion === "1.1" && req.headers.host === undefined) {
        throw new ConnectError("an HTTP/1.1 request needs a Host header", Code.InvalidArgument);
      }
      const asset = req.method === "GET" ? this.options.assets?.[url.pathname] : undefined;
      if (asset !== undefined) {
        answer.setRoute(url.pathname);
        observed = this.observe(req, res, url.pathname, false);
        observed.route = url.pathname;
        send(res, 200, asset.contentType, asset.body);
        return;
      }
      if (this.options.httpRoutes?.some((route) => route(req, res)) === true) {
        return;
      }
      observed = this.observe(req, res, url.pathname, false);
      await this.serveRest(req, res, url, requestId, answer, observed);
    } catch (err) {
      (observed ?? this.observe(req, res, url.pathname, false)).code = ConnectError.from(err).code;
      const failure = errorResponse(err);
      for (const [name, value] of Object.entries(failure.headers)) {
        res.setHeader(name, value);
      }
      if (failure.status >= 500) {
        this.options.logger.warn({ ...answer.ids, err, status: failure.status }, "gateway request failed");
      }
      this.options.onFailure?.({
        requestId,
        request: `${req.method ?? ""} ${url.pathname}`,
        status: failure.status,
        code: failure.code,
        message: failure.message,
      });
      if (!res.headersSent && !res.writableEnded) {
        send(res, failure.status, "application/json", failure.body);
      }
    }
  }

  /**
   * Starts the request's SERVER span (when tracing) and, once the response
   * is done or the client has gone, ends it and writes the request's one
   * access line: request id, method, route template, path, status, duration,
   * trace and span ids.
   */
  private traceAndLog(req: Request, res: Response, url: RequestTarget, requestId: string): AnsweredRequest {
    const start = performance.now();
    const method = req.method ?? "GET";
    const span =
      this.options.tracer === undefined
        ? undefined
        : startHttpServerSpan(this.options.tracer, { method, path: url.pathname, headers: req.headers, httpVersion: req.httpVersion });
    const ids = span === undefined ? { request_id: requestId } : { request_id: requestId, trace_id: span.traceId, span_id: span.spanId };
    let route: string | undefined;
    res.once("close", () => {
      span?.end(res.statusCode);
      this.options.logger.info(
        { ...ids, method, route, path: url.pathname, status: res.statusCode, duration_ms: Math.round((performance.now() - start) * 1000) / 1000 },
        "http",
      );
    });
    return {
      span,
      ids,
      setRoute(template) {
        route = template;
        span?.setRoute(template);
      },
    };
  }

  /**
   * Starts the request's metrics: in flight from now, recorded once the
   * response is done, or when the client has gone first (499, canceled). A
   * passthrough call's route is its RPC path when that names a served method.
   * Called once per request, where it is known to be API traffic.
   */
  private observe(req: Request, res: Response, pathname: string, passthrough: boolean): GatewayRequestObservation {
    const protocol = passthrough ? passthroughProtocol(req.headers["content-type"]) : "rest";
    const observed = this.options.metrics?.gatewayRequest(protocol, req.method ?? "GET") ?? unobserved();
    if (passthrough) {
      if (this.passthroughMethods.has(pathname)) {
        observed.route = pathname;
      } else {
        observed.code = Code.Unimplemented;
      }
      // For recordPassthroughCode, through the passthrough's context values.
      this.observations.set(req, observed);
    }
    res.once("close", () => {
      if (res.writableEnded) {
        observed.end(res.statusCode);
      } else {
        observed.code ??= Code.Canceled;
        observed.end(499);
      }
    });
    return observed;
  }

  private async serveRest(
    req: Request,
    res: Response,
    url: RequestTarget,
    requestId: string,
    answer: AnsweredRequest,
    observed: GatewayRequestObservation,
  ): Promise<void> {
    const match = this.routes.match(req.method ?? "GET", url.pathname);
    if ("error" in match) {
      if (match.error === "method-not-allowed") {
        throw new GatewayError(`${req.method} is not allowed on ${url.pathname}`, Code.Unimplemented, methodNotAllowedStatus, {
          allow: match.allowed.join(", "),
        });
      }
      throw new ConnectError(`no route for ${req.method} ${url.pathname}`, Code.NotFound);
    }
    answer.setRoute(match.route.template.source);
    observed.route = match.route.template.source;
    const timeoutMs = clientTimeoutMs(req.headers, this.maxTimeoutMs);
    const body = await readBody(req, this.maxBodyBytes);
    const request = buildRequest(match.route, match.pathParams, url.searchParams, body);
    const abort = new AbortController();
    const onClose = (): void => {
      if (!res.writableEnded) {
        abort.abort(new ConnectError("the client went away", Code.Canceled));
      }
    };
    res.once("close", onClose);
    try {
      const response = await this.options.caller.call({
        method: match.route.method,
        request,
        headers: req.headers,
        requestId,
        peer: req.socket?.remoteAddress ?? "",
        ...(answer.span === undefined ? {} : { traceContext: answer.span.context }),
        timeoutMs,
        signal: abort.signal,
        onRateLimitHeaders: (headers) => {
          for (const [name, value] of Object.entries(headers)) {
            res.setHeader(name, value);
          }
        },
      });
      send(res, 200, "application/json", renderResponse(match.route, response));
    } finally {
      res.off("close", onClose);
    }
  }
}

/** A request being answered: its span, the ids its log lines carry, and where its route is told. */
interface AnsweredRequest {
  readonly span: HttpServerSpan | undefined;
  readonly ids: { readonly request_id: string; readonly trace_id?: string; readonly span_id?: string };
  setRoute(template: string): void;
}

/** Where a passthrough call's observation is, for the interceptor that tells it the call's code. */
const observationKey = createContextKey<GatewayRequestObservation | undefined>(undefined, { description: "gateway request metrics" });

/**
 * Tells a passthrough call's observation the code it failed with: gRPC and
 * gRPC-Web answer HTTP 200 whatever the outcome.
 */
const recordPassthroughCode: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    const observed = req.contextValues.get(observationKey);
    if (observed !== undefined) {
      observed.code = ConnectError.from(err).code;
    }
    throw err;
  }
};

function passthroughProtocol(contentType: string | undefined): GatewayProtocol {
  const type = contentType ?? "";
  return type.startsWith("application/grpc-web") ? "grpc-web" : type.startsWith("application/grpc") ? "grpc" : "connect";
}

/** The observation of a gateway without metrics. */
function unobserved(): GatewayRequestObservation {
  return { route: "unmatched", code: undefined, end: () => undefined };
}

/** A request target split as sent: no URL parsing, which would read "//x" as a host and fold "..". */
interface RequestTarget {
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

function splitTarget(raw: string): RequestTarget {
  const q = raw.indexOf("?");
  return q < 0
    ? { pathname: raw, searchParams: new URLSearchParams() }
    : { pathname: raw.slice(0, q), searchParams: new URLSearchParams(raw.slice(q + 1)) };
}

function send(res: Response, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The request body as text, refusing more than `max` bytes (413) and invalid UTF-8 (400). */
function readBody(req: Request, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = Number(req.headers["content-length"] ?? 0) > max;
    let lingering: NodeJS.Timeout | undefined;
    // A 413 is sent once the client has finished sending (what it sends is
    // read and dropped), or after a short wait: closing on a client still
    // writing would make it see a broken pipe instead of the answer.
    const refuse = (): void => {
      clearTimeout(lingering);
      reject(tooLarge(max));
    };
    if (tooBig) {
      lingering = setTimeout(refuse, lingerMs);
    }
    req.on("data", (chunk: Buffer) => {
      if (tooBig) {
        return;
      }
      size += chunk.length;
      if (size > max) {
        tooBig = true;
        chunks.length = 0;
        lingering = setTimeout(refuse, lingerMs);
        return;
      }
      chunks.push(chunk);
    });
    req.once("error", reject);
    req.once("end", () => {
      if (tooBig) {
        refuse();
        return;
      }
      if (size === 0) {
        resolve(undefined);
        return;
      }
      try {
        resolve(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks, size)));
      } catch {
        reject(new ConnectError("request body is not valid UTF-8", Code.InvalidArgument));
      }
    });
  });
}

/** How long a refused body may keep arriving before the 413 goes out anyway. */
const lingerMs = 1_000;

function tooLarge(max: number): GatewayError {
  return new GatewayError(`request body larger than ${max} bytes`, Code.ResourceExhausted, payloadTooLargeStatus);
}
