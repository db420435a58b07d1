import type { FuzzRequest } from "./requests.js";

/** A gRPC frame header declaring `length` bytes, then `bytes` zeros: more than an HTTP/2 stream's first window (64 KiB), in base64. */
function declaredThenZeros(flags: number, length: number, bytes: number): string {
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(length, 1);
  return Buffer.concat([header, Buffer.alloc(bytes)]).toString("base64");
}

/**
 * Requests the fuzzer once failed on (or that stand for a class of them),
 * replayed before any generated request. When a run fails it prints the
 * failing requests as JSON and fast-check prints its seed and path: paste the
 * request here with what it found, and, for a failure that needs the whole
 * batch, the seed and path in `regressionRuns`.
 */
export const regressionRequests: readonly { readonly found: string; readonly request: FuzzRequest }[] = [
  {
    found: "Internal (parse binary) for a GetItem message that does not parse, through the gateway's gRPC-Web passthrough",
    request: { kind: "grpc-web", path: "/meshwork.inventory.v1.InventoryService/GetItem", headers: { "content-type": "application/grpc-web+proto" }, body: "AAAAAAoK//////////9/" },
  },
  {
    found: "Internal (parse binary) for a message that does not parse, straight to a service (the gRPC fast path)",
    request: { kind: "grpc", target: "inventory", identity: "allowed", path: "/meshwork.inventory.v1.InventoryService/GetItem", headers: { "content-type": "application/grpc", te: "trailers" }, body: "AAAAAAoK//////////9/" },
  },
  {
    found: "Internal for the compressed flag without grpc-encoding, Connect streaming envelope through the passthrough",
    request: { kind: "grpc-gateway", path: "/meshwork.inventory.v1.InventoryService/GetItem", headers: { "content-type": "application/grpc", te: "trailers" }, body: "AQAAAAkKB01VRy0wMDE=" },
  },
  {
    found: "Internal for a gzip frame cut short (grpc-encoding gzip), straight to a service",
    request: { kind: "grpc", target: "inventory", identity: "allowed", path: "/meshwork.inventory.v1.InventoryService/GetItem", headers: { "content-type": "application/grpc", te: "trailers", "grpc-encoding": "gzip" }, body: "AQAAAAgfiwgAAAAAAA==" },
  },
  {
    found: "no answer (seed 44, path 19): grpc+json whose JSON parse error names a lone surrogate; connect-node threw writing grpc-message",
    request: { kind: "grpc", target: "orders", identity: "allowed", path: "/meshwork.orders.v1.OrderService/GetOrder", headers: { "content-type": "application/grpc+json", "grpc-encoding": "gzip" }, body: "AAAAAA4KCvCdhZfwnYWlJCYLAQ==" },
  },
  {
    found: "DeadlineExceeded (seed 43, path 126): grpc-timeout 99999999H through the passthrough; connect-node's timer overflowed and fired at once",
    request: { kind: "grpc-gateway", path: "/meshwork.orders.v1.OrderService/CancelOrder", headers: { authorization: "<token:alice>", "content-type": "application/grpc", te: "trailers", "grpc-timeout": "99999999H" }, body: "AAAAAA4KDHRva19kZWNsaW5lZA==" },
  },
  {
    found:
      "no answer, then ENHANCE_YOUR_CALM on the session (the resets against notifications): a grpc+json frame declaring 8 MiB, over the 4 MiB limit, with 256 KiB sent; connect-node answered ResourceExhausted but its stream never closed",
    request: { kind: "grpc", target: "notifications", identity: "allowed", path: "/meshwork.notifications.v1.NotificationService/ListNotifications", headers: { "content-type": "application/grpc+json", te: "trailers" }, body: declaredThenZeros(0, 8 * 1024 * 1024, 256 * 1024) },
  },
  {
    found: "the same with grpc-encoding gzip (connect-node's path, not the fast path)",
    request: { kind: "grpc", target: "orders", identity: "allowed", path: "/meshwork.orders.v1.OrderService/GetOrder", headers: { "content-type": "application/grpc", te: "trailers", "grpc-encoding": "gzip" }, body: declaredThenZeros(1, 8 * 1024 * 1024, 256 * 1024) },
  },
  {
    found: "the same through the gateway's passthrough (gRPC over cleartext HTTP/2, the same adapter)",
    request: { kind: "grpc-gateway", path: "/meshwork.inventory.v1.InventoryService/GetItem", headers: { "content-type": "application/grpc", te: "trailers" }, body: declaredThenZeros(0, 8 * 1024 * 1024, 256 * 1024) },
  },
];

/**
 * fast-check runs to replay exactly (FUZZ_SEED and the path it printed), by
 * suite. A batch is what the suite's batchSize made of the seed: changing
 * batchSize changes what each of these replays.
 */
export const regressionRuns: readonly { readonly found: string; readonly suite: "rest" | "passthrough" | "grpc"; readonly seed: number; readonly path: string }[] = [
  {
    found:
      "no answer, NGHTTP2_ENHANCE_YOUR_CALM and INTERNAL_ERROR on 8 streams to inventory: a 5 MiB body beside 31 other requests in flight on one session. The fuzz client's own session refused its answers' headers (Node counts queued outgoing bytes against maxSessionMemory, 10 MB); send.ts raises it",
    suite: "grpc",
    seed: 20261208,
    path: "6",
  },
];

/**
 * Bad input the fuzzer found answered with Internal, not yet fixed: the
 * suite counts these instead of failing on them, and fails when a full run
 * (FUZZ_RUNS >= 20,000) no longer meets one, so a fix removes its entry.
 * Each names who answers it and why it is Internal.
 */
export const knownFindings: readonly {
  readonly name: string;
  readonly code: string;
  readonly kinds: readonly FuzzRequest["kind"][];
  /** Matched against the grpc-message or error body; for "no answer", against the answer's error. */
  readonly message: RegExp;
  /** Only requests this holds for, when the finding depends on the bytes sent. */
  readonly request?: (request: FuzzRequest) => boolean;
}[] = [];
