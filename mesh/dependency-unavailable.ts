import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { errorDomain, failure } from "./errors.js";

/**
 * "I am up, but something I depend on is not": an Unavailable a server
 * *answers* about its own dependency (payments about its card processor),
 * told apart from an Unavailable about the server itself (connection refused,
 * a dead endpoint, a server shutting down) by an ErrorInfo detail with this
 * reason in the mesh's domain, and the dependency's name in its metadata
 * (docs/architecture.md, "Error model").
 *
 * The difference matters to the caller's resilience, which judges the
 * endpoint it called: the endpoint answered, so its circuit breaker and its
 * outlier detection count the call as answered (as a client error is), and
 * retry leaves it alone (the server next to the dependency owns retrying it;
 * a retry per layer above would multiply the dependency's load in its
 * outage: what a gRPC server says with a negative grpc-retry-pushback-ms,
 * gRFC A6). Otherwise one caller
 * could open a breaker shared by every caller with requests that only reach
 * a broken dependency (a customer's card token that its processor fails on),
 * and take a healthy service out of every caller's reach and out of
 * readiness. The code stays Unavailable on the wire, so SLOs, metrics and
 * callers that do not know the reason see the outage as before.
 */
export const dependencyUnavailableReason = "DEPENDENCY_UNAVAILABLE";

/** The ErrorInfo metadata key naming the dependency that is down. */
export const dependencyKey = "dependency";

export interface DependencyUnavailableOptions {
  /** The dependency's own error, kept for logs only. */
  readonly cause?: unknown;
}

/**
 * The error a server answers when `dependency` (a short stable name, e.g.
 * "card-processor") is down, e.g.
 * `dependencyUnavailable("card-processor", "the card processor is unavailable", { cause })`.
 */
export function dependencyUnavailable(dependency: string, message: string, options: DependencyUnavailableOptions = {}): ConnectError {
  return failure(Code.Unavailable, dependencyUnavailableReason, message, {
    metadata: { [dependencyKey]: dependency },
    cause: options.cause,
  });
}

/**
 * The dependency an upstream said is down, when `err` is its answer made
 * with `dependencyUnavailable` (Unavailable carrying the reason, as decoded
 * from the response by any of the mesh's transports); undefined for any
 * other error, a plain Unavailable included.
 */
export function unavailableDependencyOf(err: unknown): string | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.Unavailable) {
    return undefined;
  }
  const info = err.findDetails(ErrorInfoSchema).find((i) => i.domain === errorDomain && i.reason === dependencyUnavailableReason);
  return info === undefined ? undefined : (info.metadata[dependencyKey] ?? "");
}

/** True when `err` is an upstream's answer that a dependency of its own is down (see `dependencyUnavailable`). */
export function isDependencyUnavailable(err: unknown): boolean {
  return unavailableDependencyOf(err) !== undefined;
}
