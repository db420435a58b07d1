import { createRegistry, toJson, type Registry } from "@bufbuild/protobuf";
import { AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { isGatewayError } from "./gateway-error.js";
import { httpStatusFor } from "./http-status.js";
import { maskedMessage } from "./masked-codes.js";

/** The error details the gateway can render as JSON; others are dropped. */
const detailTypes: Registry = createRegistry(ErrorInfoSchema, BadRequestSchema, RetryInfoSchema, ViolationsSchema);


export interface ErrorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** JSON `{code, message, details}`. */
  readonly body: string;
  /** The body's code and message, for whoever records failures. */
  readonly code: string;
  readonly message: string;
}

/**
 * Renders any failure as the gateway's one error shape: JSON
 * `{code, message, details}` with the status from the code table. `code` is
 * Connect's lower_snake name ("not_found"); `details` are the error's
 * google.rpc / buf.validate details as proto3 JSON with an "@type", so a REST
 * client reads an ErrorInfo reason or the violated fields without protobuf.
 * Server-side failures (Internal, Unknown, DataLoss) get a fixed message
 * (gateway/http/masked-codes.ts, the one table REST and passthrough share).
 */
export function errorResponse(err: unknown): ErrorResponse {
  const error = ConnectError.from(err);
  const status = isGatewayError(error) ? error.httpStatus : httpStatusFor(error.code);
  const masked = maskedMessage(error.code);
  const message = masked ?? error.rawMessage;
  const details = masked === undefined ? renderDetails(error) : [];
  const code = codeToString(error.code);
  return {
    status,
    headers: isGatewayError(error) ? error.responseHeaders : {},
    body: JSON.stringify({ code, message, details }),
    code,
    message,
  };
}

function renderDetails(error: ConnectError): unknown[] {
  const out: unknown[] = [];
  for (const desc of [ErrorInfoSchema, BadRequestSchema, RetryInfoSchema, ViolationsSchema] as const) {
    for (const detail of error.findDetails(desc)) {
      out.push(toJson(AnySchema, anyPack(desc, detail), { registry: detailTypes }));
    }
  }
  return out;
}
