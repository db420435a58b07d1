import { Code } from "@connectrpc/connect";
import type { HttpRoute } from "../../mesh/index.js";
import { GatewayError } from "../http/gateway-error.js";
import { securityHeaders } from "../http/security-headers.js";
import type { OperatorEndpoint } from "../server/operator-routes.js";
import { splitTarget } from "../server/request-target.js";
import { writeError } from "../server/write-error.js";
import type { MeshSnapshot } from "./mesh-snapshot.js";
import type { MeshPage } from "./page-bundle.js";
import type { StatusCollector } from "./status-collector.js";

export interface MeshRoutesOptions {
  /** Live streams served at once, all operators together; more get 503. Default: 32. */
  readonly maxStreams?: number;
  /**
   * Live streams one operator (a token's subject) may hold at once; more get
   * 429, so that one token cannot take every stream. Default: 4 (a few tabs).
   */
  readonly streamsPerSubject?: number;
}

/** The page's routes, and the way to end its open streams on shutdown. */
export interface MeshRoutes {
  /** GET /mesh and /mesh/app.js: the page's shell, static, for anyone. */
  readonly route: HttpRoute;
  /** GET /mesh/status.json and /mesh/stream: the mesh's state, for operators only (gateway/server/operator-routes.ts). */
  readonly data: OperatorEndpoint;
  /** Ends every open /mesh/stream and stops following the collector. */
  close(): void;
}

/** What a stream needs of a response, HTTP/1.1 or HTTP/2 alike. */
interface StreamResponse {
  write(chunk: string): boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  end(): void;
}

export const meshStatusPath = "/mesh/status.json";
export const meshStreamPath = "/mesh/stream";

/**
 * GET /mesh (the page) and /mesh/app.js (its script) carry no data: a
 * browser cannot put an Authorization header on a navigation or on an
 * EventSource, so the shell is static and public, asks the operator for an
 * admin token (kept in the tab's sessionStorage), and reads the data with
 * fetch() and that header. The data: /mesh/status.json (the latest snapshot)
 * and /mesh/stream (Server-Sent Events: the latest snapshot at once, then one
 * `data:` event per poll), for operators only. A stream whose client reads
 * slower than the polls come skips snapshots rather than buffering them.
 * Each data request, and every poll while a stream is open, tells the
 * collector the page is watched, which keeps it polling; the public shell
 * does not, so that nobody can make the gateway poll the mesh.
 */
export function meshRoutes(collector: StatusCollector, page: MeshPage, options: MeshRoutesOptions = {}): MeshRoutes {
  const maxStreams = options.maxStreams ?? 32;
  const streamsPerSubject = options.streamsPerSubject ?? 4;
  const streams = new Map<StreamResponse, { busy: boolean }>();
  const openBySubject = new Map<string, number>();
  let latest = { snapshot: collector.latest(), json: JSON.stringify(collector.latest()) };
  const jsonOf = (snapshot: MeshSnapshot): string => {
    if (latest.snapshot !== snapshot) {
      latest = { snapshot, json: JSON.stringify(snapshot) };
    }
    return latest.json;
  };
  const push = (res: StreamResponse, state: { busy: boolean }, json: string): void => {
    if (state.busy) {
      return;
    }
    if (!res.write(`data: ${json}\n\n`)) {
      state.busy = true;
      res.once("drain", () => (state.busy = false));
    }
  };
  const unsubscribe = collector.subscribe((snapshot) => {
    if (streams.size > 0) {
      // An open stream is someone watching: polling goes on.
      collector.watch();
    }
    const json = jsonOf(snapshot);
    for (const [res, state] of streams) {
      push(res, state, json);
    }
  });

  // The page loads its script from this origin and reads its data; nothing else.
  const pageHeaders = { ...securityHeaders, "cache-control": "no-store" };
  const shell: Record<string, { contentType: string; body: () => string }> = {
    "/mesh": { contentType: "text/html; charset=utf-8", body: () => page.html },
    "/mesh/app.js": { contentType: "text/javascript; charset=utf-8", body: () => page.js },
  };

  const route: HttpRoute = (req, res) => {
    const document = req.method === "GET" ? shell[splitTarget(req.url ?? "/").pathname] : undefined;
    if (document === undefined) {
      return false;
    }
    const body = document.body();
    res.writeHead(200, { ...pageHeaders, "content-type": document.contentType, "content-length": Buffer.byteLength(body) });
    res.end(body);
    return true;
  };

  const data: OperatorEndpoint = {
    paths: [meshStatusPath, meshStreamPath],
    route(req, res, operator) {
      if (req.method !== "GET") {
        return false;
      }
      collector.watch();
      if (splitTarget(req.url ?? "/").pathname === meshStatusPath) {
        const body = jsonOf(collector.latest());
        res.writeHead(200, { ...pageHeaders, "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
        return true;
      }
      const open = openBySubject.get(operator.subject) ?? 0;
      if (open >= streamsPerSubject) {
        writeError(res, new GatewayError(
          `this token already has ${open} open mesh streams, the most one operator may hold; close one`,
          Code.ResourceExhausted,
          429,
          { "retry-after": "5" },
        ));
        return true;
      }
      if (streams.size >= maxStreams) {
        writeError(res, new GatewayError("too many open mesh streams; retry later", Code.Unavailable, 503, { "retry-after": "5" }));
        return true;
      }
      res.writeHead(200, { ...pageHeaders, "content-type": "text/event-stream; charset=utf-8" });
      const stream = res as StreamResponse;
      const state = { busy: false };
      streams.set(stream, state);
      openBySubject.set(operator.subject, open + 1);
      stream.once("close", () => {
        if (streams.delete(stream)) {
          const left = (openBySubject.get(operator.subject) ?? 1) - 1;
          if (left > 0) {
            openBySubject.set(operator.subject, left);
          } else {
            openBySubject.delete(operator.subject);
          }
        }
      });
      // Reconnect after a second if the stream breaks.
      stream.write("retry: 1000\n\n");
      push(stream, state, jsonOf(collector.latest()));
      return true;
    },
  };

  return {
    route,
    data,
    close() {
      unsubscribe();
      for (const res of streams.keys()) {
        res.end();
      }
      streams.clear();
      openBySubject.clear();
    },
  };
}
