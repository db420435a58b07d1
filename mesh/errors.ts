import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/**
 * Meshwork's error model is Connect's: one closed set of codes (`Code`) and one
 * error class (`ConnectError`, with `ConnectError.from(unknown)` for anything
 * thrown). A cause passed here is kept on the error for logs and never put on
 * the wire. Business failures carry a machine-readable reason as a
 * google.rpc.ErrorInfo detail, so a caller branches on `reasonOf(err)`, never
 * on message text.
 */
export { Code, ConnectError };

/** The ErrorInfo domain of every reason Meshwork services raise. */
export const errorDomain = "meshwork.dev";

export interface FailureOptions {
  /** Extra machine-readable facts (e.g. the SKU that ran out). */
  readonly metadata?: Record<string, string>;
  /** The underlying error, kept for logs only. */
  readonly cause?: unknown;
}

/**
 * A failure with a machine-readable reason, e.g.
 * `failure(Code.FailedPrecondition, "INSUFFICIENT_STOCK", "only 2 of MUG-001 available")`.
 */
export function failure(
  code: Code,
  reason: string,
  message: string,
  options: FailureOptions = {},
): ConnectError {
  const info = create(ErrorInfoSchema, {
    reason,
    domain: errorDomain,
    metadata: options.metadata ?? {},
  });
  return new ConnectError(message, code, undefined, [{ desc: ErrorInfoSchema, value: info }], options.cause);
}

/** The ErrorInfo reason of an error raised with `failure`, if it has one. */
export function reasonOf(err: unknown): string | undefined {
  if (!(err instanceof ConnectError)) {
    return undefined;
  }
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** The ErrorInfo metadata of an error raised with `failure`. */
export function reasonMetadataOf(err: unknown): Record<string, string> {
  if (!(err instanceof ConnectError)) {
    return {};
  }
  return err.findDetails(ErrorInfoSchema)[0]?.metadata ?? {};
}
