import { toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { reasonOf } from "../../mesh/index.js";
import { GrpcJsCallError } from "./grpc-js-client.js";

/**
 * What a call came to, in a form that compares across clients and protocols:
 * the response as proto3 JSON, or the error's code name, message, ErrorInfo
 * reason and violated fields.
 */
export type CallOutcome =
  | { ok: true; response: unknown }
  | { ok: false; code: string; message: string; reason?: string; fields?: string[] };

export async function outcomeOf(schema: DescMessage, call: () => Promise<Message>): Promise<CallOutcome> {
  try {
    return { ok: true, response: toJson(schema, await call()) };
  } catch (err) {
    const error = err instanceof GrpcJsCallError ? fromGrpcJs(err) : ConnectError.from(err);
    const violations = error.findDetails(ViolationsSchema)[0]?.violations ?? [];
    const outcome: CallOutcome = { ok: false, code: Code[error.code], message: error.rawMessage };
    const reason = reasonOf(error);
    if (reason !== undefined) {
      outcome.reason = reason;
    }
    if (violations.length > 0) {
      outcome.fields = violations.map((v) => v.field?.elements.map((e) => e.fieldName).join(".") ?? "");
    }
    return outcome;
  }
}

/** grpc-js's view of an error, as a ConnectError with the same details. */
function fromGrpcJs(err: GrpcJsCallError): ConnectError {
  const details = err.metadata.get("grpc-status-details-bin")[0];
  const headers = new Headers({ "grpc-status": String(err.code), "grpc-message": encodeURIComponent(err.details) });
  if (details !== undefined) {
    headers.set("grpc-status-details-bin", Buffer.from(details as Buffer).toString("base64").replace(/=+$/, ""));
  }
  return findTrailerError(headers) ?? new ConnectError(err.details, err.code as Code);
}
