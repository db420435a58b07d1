import type { HttpRoute } from "../../mesh/index.js";
import { securityHeaders } from "../http/security-headers.js";
import type { MeshSnapshot } from "./mesh-snapshot.js";
import type { MeshPage } from "./page-bundle.js";
import type { StatusCollector } from "./status-collector.js";

export interface MeshRoutesOptions {
  /** Live streams served at once; more get 503. Default: 32. */
  readonly maxStreams?: number;
}

/** The page's routes, and the way to end its open streams on shutdown. */
export interface MeshRoutes {
  readonly route: HttpRoute;
  /** Ends every open /mesh/stream and stops following the collector. */
  close(): void;
}

/** What a stream needs of a response, HTTP/1.1 or HTTP/2 alike. */
interface StreamResponse {
  write(chunk: string): boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  end(): void;
}

/**
 * GET /mesh (the page), /mesh/app.js (its script), /mesh/status.json (the
 * latest snapshot) and /mesh/stream (Server-Sent Events: the latest snapshot
 * at once, then one `data:` event per poll). A stream whose client reads
 * slower than the polls come skips snapshots rather than buffering them.
 * Each of them, and every poll while a stream is open, tells the collector
 * the page is watched, which keeps it polling.
 */
export function meshRoutes(collector: StatusCollector, page: MeshPage, options: MeshRoutesOptions = {}): MeshRoutes {
  const maxStreams = options.maxStreams ?? 32;
  const streams = new Map<StreamResponse, { busy: boolean }>();
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

  // The page loads its script from this origin and reads its stream; nothing else.
  const pageHeaders = { ...securityHeaders, "cache-control": "no-store" };
  const documents: Record<string, { contentType: string; body: () => string }> = {
    "/mesh": { contentType: "text/html; charset=utf-8", body: () => page.html },
    "/mesh/app.js": { contentType: "text/javascript; charset=utf-8", body: () => page.js },
    "/mesh/status.json": { contentType: "application/json", body: () => jsonOf(collector.latest()) },
  };

  const route: HttpRoute = (req, res) => {
    if (req.method !== "GET") {
      return false;
    }
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const pathname = q < 0 ? url : url.slice(0, q);
    const document = documents[pathname];
    if (document !== undefined || pathname === "/mesh/stream") {
      collector.watch();
    }
    if (document !== undefined) {
      const body = document.body();
      res.writeHead(200, { ...pageHeaders, "content-type": document.contentType, "content-length": Buffer.byteLength(body) });
      res.end(body);
      return true;
    }
    if (pathname !== "/mesh/stream") {
      return false;
    }
    if (streams.size >= maxStreams) {
      const body = JSON.stringify({ code: "unavailable", message: "too many open mesh streams; retry later", details: [] });
      res.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "retry-after": "5" });
      res.end(body);
      return true;
    }
    res.writeHead(200, { ...pageHeaders, "content-type": "text/event-stream; charset=utf-8" });
    const stream = res as StreamResponse;
    const state = { busy: false };
    streams.set(stream, state);
    stream.once("close", () => streams.delete(stream));
    // Reconnect after a second if the stream breaks (the EventSource default is 3 s).
    stream.write("retry: 1000\n\n");
    push(stream, state, jsonOf(collector.latest()));
    return true;
  };

  return {
    route,
    close() {
      unsubscribe();
      for (const res of streams.keys()) {
        res.end();
      }
      streams.clear();
    },
  };
}
