// Where a process's CPU goes, by contributor (logging, tracing, metrics,
// protobuf, ...), from a V8 .cpuprofile: each sample is charged to the
// innermost frame of its stack that belongs to a contributor, so Node's own
// work done for a contributor (JSON, a write(2) under a log line) counts as
// that contributor's, and what matches none is "other".
import { frameKey, readCpuProfile } from "./cpu-profile.js";

/** Contributors in the order a frame is tested against them; the first whose pattern matches the frame's url (or name) wins. */
export const contributors: readonly { readonly name: string; readonly pattern: RegExp }[] = [
  { name: "GC", pattern: /^\(garbage collector\)$/ },
  { name: "logging (pino, redaction, log lines)", pattern: /\/(pino|@pinojs|sonic-boom|thread-stream)\/|mesh\/logger\.ts|mesh\/interceptors\/log-call\.ts|gateway\/server\/access-log/ },
  { name: "tracing (OpenTelemetry, mesh/telemetry)", pattern: /@opentelemetry\/|mesh\/telemetry\// },
  { name: "metrics (prom-client, mesh/metrics)", pattern: /prom-client\/|mesh\/metrics\/|gateway\/metrics\// },
  { name: "/mesh collector (gateway/mesh-page)", pattern: /gateway\/mesh-page\// },
  { name: "validation (protovalidate)", pattern: /@bufbuild\/(protovalidate|cel)\/|mesh\/interceptors\/validate-request/ },
  { name: "protobuf (binary, JSON)", pattern: /@bufbuild\/protobuf\// },
  { name: "connect-node", pattern: /@connectrpc\// },
  { name: "resilience and balancing", pattern: /\/opossum\/|mesh\/resilience\/|mesh\/balancing\// },
  { name: "events (outbox, bus, inbox)", pattern: /mesh\/events\// },
  { name: "SQLite (better-sqlite3, stores)", pattern: /better-sqlite3\/|sqlite-store\.ts|mesh\/sqlite\// },
  { name: "fetch (undici)", pattern: /undici/ },
  { name: "node:http2", pattern: /^node:internal\/http2\// },
  { name: "node:http (HTTP/1.1)", pattern: /^node:_http_|^node:internal\/http\b/ },
  { name: "mesh serve and client (fast path, interceptors, h2 transport)", pattern: /mesh\/(server|interceptors|context|client)\// },
  { name: "gateway (routing, transcoding, auth, limits)", pattern: /gateway\// },
  { name: "service (handler, domain)", pattern: /services\// },
];
export const otherContributor = "other (Node core, V8, microtasks, idle-time work)";

/**
 * The share (0-1) of busy time each contributor took in `file`'s samples
 * between two monotonic timestamps (µs, as process.hrtime), idle excluded.
 */
export function costShares(file: string, window: readonly [number, number]): Map<string, number> {
  const profile = readCpuProfile(file);
  const { busyUs, byClass } = profile.busyTimeBy(
    window,
    (leaf) => profile.innermost(leaf, (n) => contributors.find((c) => c.pattern.test(frameKey(n)))?.name) ?? otherContributor,
  );
  return new Map([...byClass].map(([name, us]) => [name, us / Math.max(busyUs, 1)]));
}
