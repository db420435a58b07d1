import { createContextValues, Code, ConnectError } from "@connectrpc/connect";
import type http from "node:http";
import type { Context, Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import { DualProtocolListener, type ConnectionLimits, type HttpRoute } from "../../mesh/index.js";
import type { HttpServerSpan } from "../../mesh/telemetry/index.js";
import { cors, type CorsOptions } from "../http/cors.js";
import type { Principal } from "../auth/principal.js";
import { GatewayError } from "../http/gateway-error.js";
import { payloadTooLargeStatus } from "../http/http-status.js";
import { requestIdOf } from "../http/request-id.js";
import { securityHeaders } from "../http/security-headers.js";
import { buildRouteTable } from "../transcoding/route-table.js";
import { startAccessLog, type AccessLog, type RequestLogIds } from "./access-log.js";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";
import { answerHttp1ClientError } from "./http1-client-error.js";
import type { EdgeAdmission } from "./edge-admission.js";
import { createPassthrough, edgeRequestInfo, type ContextValuesOf } from "./passthrough.js";
import { writePassthroughError } from "./passthrough-error.js";
import { observationKey, recordPassthroughCode } from "./passthrough-code.js";
import type { GatewayMetrics, GatewayRequestObservation } from "../metrics/gateway-metrics.js";
import { observeRequest } from "./request-metrics.js";
import { startRequestSpan } from "./request-span.js";
import { splitTarget } from "./request-target.js";
import { serveRest, type RestCallOptions } from "./rest-call.js";
import { sendResponse } from "./send-response.js";
import type { FrontedService, UpstreamCaller } from "./upstream-call.js";
import { writeError, writeInternalError } from "./write-error.js";

/** A fixed document the gateway serves as is (the web page, OpenAPI). */
export interface StaticAsset {
  readonly contentType: string;
  readonly body: string;
}

export interface GatewayServerOptions {
  readonly upstreams: readonly FrontedService[];
  readonly caller: UpstreamCaller;
  /** Rate limits and authentication, in that order, before any work (edge-admission.ts). */
  readonly admission: EdgeAdmission;
  readonly logger: Logger;
  readonly cors: CorsOptions;
  /**
   * Largest request body, in bytes, REST and passthrough alike (the
   * passthrough's also after decompression). Default: 1 MiB.
   */
  readonly maxBodyBytes?: number;
  /** Timeouts and caps of every connection (header size included). Default: `defaultConnectionLimits`. */
  readonly limits?: Partial<ConnectionLimits>;
  /** Longest upstream deadline; a client's own is capped by it. Default: 30 s. */
  readonly maxTimeoutMs?: number;
  /** Shortest deadline a client may set (gateway/http/client-deadline.ts); a shorter one is a 400. Default: 50 ms. */
  readonly clientDeadlineFloorMs?: number;
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
  readonly metrics?: GatewayMetrics;
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
 *
 * This file routes a request to its answer; each job has its own file: the
 * REST call (rest-call.ts), the body (read-body.ts), the error shape
 * (write-error.ts), the access line (access-log.ts), the span
 * (request-span.ts), the metrics (request-metrics.ts, passthrough-code.ts).
 */
export class GatewayServer {
  private readonly listener: DualProtocolListener;
  private readonly rest: RestCallOptions;
  private readonly passthrough;
  private readonly passthroughPrefixes: string[];
  /** "/package.Service/Method" of every passthrough method: the bounded routes of passthrough calls. */
  private readonly passthroughMethods: ReadonlySet<string>;
  private readonly observations = new WeakMap<GatewayRequest, GatewayRequestObservation>();
  private readonly cors;
  /** The span context of a passthrough request, for its upstream call. */
  private readonly passthroughTraces = new WeakMap<GatewayRequest, Context>();
  /** Who an admitted passthrough request speaks for, for its upstream call. */
  private readonly admitted = new WeakMap<GatewayRequest, { principal: Principal | undefined; address: string }>();

  constructor(private readonly options: GatewayServerOptions) {
    const deadlines = { maxMs: options.maxTimeoutMs ?? 30_000, floorMs: options.clientDeadlineFloorMs ?? 50 };
    this.rest = {
      routes: buildRouteTable(options.upstreams.map((u) => u.service)),
      caller: options.caller,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      deadlines,
      admission: options.admission,
    };
    this.cors = cors(options.cors);
    this.passthroughPrefixes = options.upstreams.map((u) => `/${u.service.typeName}/`);
    this.passthroughMethods = new Set(options.upstreams.flatMap((u) => u.service.methods.map((m) => `/${u.service.typeName}/${m.name}`)));
    this.passthrough = createPassthrough(options.upstreams, options.caller, { ...deadlines, maxBodyBytes: this.rest.maxBodyBytes }, ((req) =>
      createContextValues().set(edgeRequestInfo, {
        requestId: String(req.headers["x-request-id"] ?? ""),
        principal: this.admitted.get(req)?.principal,
        address: this.admitted.get(req)?.address ?? "",
        traceContext: this.passthroughTraces.get(req),
      }).set(observationKey, this.observations.get(req))) satisfies ContextValuesOf,
      [recordPassthroughCode],
    );
    this.listener = new DualProtocolListener((req, res) => this.handleSafely(req, res), {
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    });
    // Node would answer an HTTP/1.1 request without Host with an empty 400
    // of its own; the gateway refuses it itself, on the one JSON error path.
    (this.listener.http1Server as http.Server & { requireHostHeader: boolean }).requireHostHeader = false;
    this.listener.http1Server.on("clientError", answerHttp1ClientError);
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
  private handleSafely(req: GatewayRequest, res: GatewayResponse): void {
    this.handle(req, res).catch((err: unknown) => {
      this.options.logger.error({ err }, "gateway bug while answering a request");
      writeInternalError(res);
    });
  }

  private async handle(req: GatewayRequest, res: GatewayResponse): Promise<void> {
    const requestId = requestIdOf(req.headers["x-request-id"]);
    req.headers["x-request-id"] = requestId;
    res.setHeader("x-request-id", requestId);
    const url = splitTarget(req.url ?? "/");
    const passthrough = this.passthroughPrefixes.some((prefix) => url.pathname.startsWith(prefix));
    // First, before anything else is looked at: the client address's bucket.
    const address = this.options.admission.addressOf(req);
    try {
      this.options.admission.limitAddress(address);
    } catch (err) {
      const observed = this.observe(req, res, url.pathname, passthrough);
      observed.code = ConnectError.from(err).code;
      if (passthrough) {
        writePassthroughError(req, res, err);
      } else {
        writeError(res, err);
      }
      return;
    }
    const corsDecision = this.cors(req.method ?? "GET", req.headers);
    for (const [name, value] of Object.entries(corsDecision.headers)) {
      res.setHeader(name, value);
    }
    if (corsDecision.preflight) {
      this.observe(req, res, url.pathname, passthrough).route = "cors-preflight";
      res.writeHead(204);
      res.end();
      return;
    }
    const answer = this.answer(req, res, url.pathname, requestId);
    if (passthrough) {
      // A passthrough path names one RPC: it is its own route template.
      answer.setRoute(url.pathname);
      const observed = this.observe(req, res, url.pathname, true);
      if (answer.span !== undefined) {
        this.passthroughTraces.set(req, answer.span.context);
      }
      try {
        // A declared body over the limit is refused unread, whoever sends it.
        if (Number(req.headers["content-length"] ?? 0) > this.rest.maxBodyBytes) {
          throw new GatewayError(`request body larger than ${this.rest.maxBodyBytes} bytes`, Code.ResourceExhausted, payloadTooLargeStatus);
        }
        const admitted = await this.options.admission.admit(req.headers.authorization, address);
        for (const [name, value] of Object.entries(admitted.headers)) {
          res.setHeader(name, value);
        }
        this.admitted.set(req, { principal: admitted.principal, address });
      } catch (err) {
        observed.code = writePassthroughError(req, res, err).code;
        return;
      }
      this.passthrough(req, res);
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
        sendResponse(res, 200, asset.contentType, asset.body, securityHeaders);
        return;
      }
      if (this.options.httpRoutes?.some((route) => route(req, res)) === true) {
        return;
      }
      const restObserved = this.observe(req, res, url.pathname, false);
      observed = restObserved;
      await serveRest(this.rest, {
        req,
        res,
        url,
        requestId,
        address,
        traceContext: answer.span?.context,
        onRoute(template) {
          answer.setRoute(template);
          restObserved.route = template;
        },
      });
    } catch (err) {
      (observed ?? this.observe(req, res, url.pathname, false)).code = ConnectError.from(err).code;
      const failure = writeError(res, err);
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
    }
  }

  /**
   * Starts the request's SERVER span (when tracing) and its access line; both
   * end once the response is done or the client has gone.
   */
  private answer(req: GatewayRequest, res: GatewayResponse, pathname: string, requestId: string): AnsweredRequest {
    const span = startRequestSpan(this.options.tracer, req, res, pathname);
    const ids: RequestLogIds = span === undefined ? { request_id: requestId } : { request_id: requestId, trace_id: span.traceId, span_id: span.spanId };
    const log: AccessLog = startAccessLog(this.options.logger, req, res, pathname, ids);
    return {
      span,
      ids,
      setRoute(template) {
        log.setRoute(template);
        span?.setRoute(template);
      },
    };
  }

  /** The request's metrics (request-metrics.ts); a passthrough call's is kept for recordPassthroughCode. */
  private observe(req: GatewayRequest, res: GatewayResponse, pathname: string, passthrough: boolean): GatewayRequestObservation {
    const observed = observeRequest(this.options.metrics, req, res, pathname, passthrough ? this.passthroughMethods : undefined);
    if (passthrough) {
      this.observations.set(req, observed);
    }
    return observed;
  }
}

/** A request being answered: its span, the ids its log lines carry, and where its route is told. */
interface AnsweredRequest {
  readonly span: HttpServerSpan | undefined;
  readonly ids: RequestLogIds;
  setRoute(template: string): void;
}
