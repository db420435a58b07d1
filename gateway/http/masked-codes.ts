import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The one table of what the edge hides from its clients, for REST and for
 * Connect/gRPC-Web/gRPC passthrough alike.
 *
 * - Internal, Unknown, DataLoss: the message (and details) may describe a
 *   server's insides — a query, a path, a stack — so clients get "internal
 *   error"; the original stays in the log as the cause. Applied to every
 *   failure the gateway answers, its own included.
 * - Unavailable, DeadlineExceeded, ResourceExhausted from an upstream: the
 *   client can only wait these out, and the mesh's own messages name its
 *   insides ("connect ECONNREFUSED 10.0.0.5:50051", "circuit breaker
 *   \"inventory ...\" is open"), so they get fixed advice instead. The
 *   gateway's own ResourceExhausted (its rate limit, a body too large) keeps
 *   its message: it describes the client's request, not the mesh.
 *
 * Every other code is an answer about the request (InvalidArgument,
 * NotFound, FailedPrecondition, PermissionDenied, ...) and passes with its
 * message and details: the client needs them to fix the request.
 */
const opaqueMessages = new Map<Code, string>([
  [Code.Internal, "internal error"],
  [Code.Unknown, "internal error"],
  [Code.DataLoss, "internal error"],
]);

const upstreamMessages = new Map<Code, string>([
  ...opaqueMessages,
  [Code.Unavailable, "the service is temporarily unavailable; retry later"],
  [Code.DeadlineExceeded, "the request did not complete within its deadline"],
  [Code.ResourceExhausted, "the service is busy; retry later"],
]);

/** The fixed message that replaces a failure's own, whoever raised it; undefined when it passes as is. */
export function maskedMessage(code: Code): string | undefined {
  return opaqueMessages.get(code);
}

/**
 * An upstream's failure as the edge forwards it: the masked codes get their
 * fixed message and no details, the original kept as the cause (for logs).
 */
export function maskUpstreamError(err: ConnectError): ConnectError {
  const message = upstreamMessages.get(err.code);
  return message === undefined ? err : new ConnectError(message, err.code, undefined, undefined, err);
}
