import type { FuzzRequest } from "./requests.js";

/**
 * Requests the fuzzer once failed on (or that stand for a class of them),
 * replayed before any generated request. When a run fails it prints the
 * failing requests as JSON and fast-check prints its seed and path: paste the
 * request here with what it found, and, for a failure that needs the whole
 * batch, the seed and path in `regressionRuns`.
 */
export const regressionRequests: readonly { readonly found: string; readonly request: FuzzRequest }[] = [];

/** fast-check runs to replay exactly (FUZZ_SEED and the path it printed), by suite. */
export const regressionRuns: readonly { readonly suite: "rest" | "passthrough" | "grpc"; readonly seed: number; readonly path: string }[] = [];

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
}[] = [
  {
    // @connectrpc/connect's binary serialization throws Code.Internal for a
    // request message that does not parse (truncated, malformed varint,
    // invalid UTF-8 in a string); the services' gRPC fast path
    // (mesh/server/grpc-unary-fast-path.ts) answers the same on purpose, to
    // agree with connect-node. Should be InvalidArgument.
    name: "unparseable request message -> internal (parse binary)",
    code: "internal",
    kinds: ["connect", "grpc-web", "grpc-gateway", "grpc"],
    message: /parse binary/,
  },
  {
    // The compressed flag without a grpc-encoding, or with one (identity)
    // that cannot decompress, and a body that does not gunzip: connect's
    // envelope reader and the fast path answer Internal.
    name: "compressed flag without a usable grpc-encoding, or bad gzip -> internal",
    code: "internal",
    kinds: ["connect", "grpc-web", "grpc-gateway", "grpc"],
    message: /compressed envelope, but do not know how to decompress|compressed message without grpc-encoding|decompression failed|incorrect header check|unexpected end of file/,
  },
  {
    // connect-node's gRPC handler (the services serve application/grpc+json
    // through it; +proto takes the fast path, which answers InvalidArgument
    // "incomplete envelope") never answers a unary request whose body ends
    // with a partial envelope (1 to 4 bytes after a whole one) and carries no
    // grpc-timeout: the stream stays open until the client gives up.
    name: "partial trailing envelope on application/grpc+json -> no answer (hang)",
    code: "no answer",
    kinds: ["grpc"],
    message: /no answer within|RST code 8/,
    request: (r) => r.headers["content-type"] === "application/grpc+json" && r.headers["grpc-timeout"] === undefined && partialTrailingEnvelope(Buffer.from(r.body, "base64")),
  },
];

/** Whether `body` is one whole gRPC envelope followed by 1 to 4 more bytes. */
function partialTrailingEnvelope(body: Buffer): boolean {
  if (body.length < 5) return false;
  const rest = body.length - 5 - body.readUInt32BE(1);
  return rest >= 1 && rest <= 4;
}
