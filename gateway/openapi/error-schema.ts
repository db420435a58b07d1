import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { JsonSchema, Response } from "./openapi-types.js";

// The one error body of every operation (gateway/http/error-response.ts),
// shared through components: `code` is Connect's lower_snake code name (the
// HTTP status comes from the code table), `details` are google.rpc and
// buf.validate details as proto3 JSON with an "@type".

export const errorSchemaName = "Error";
export const errorResponseName = "Error";

const codeNames = Object.values(Code)
  .filter((value): value is Code => typeof value === "number")
  .map(codeToString);

export const errorSchema: JsonSchema = {
  type: "object",
  description: "Why a call failed.",
  properties: {
    code: { type: "string", enum: codeNames, description: 'The error code, e.g. "not_found".' },
    message: { type: "string", description: "A developer-facing description of the failure." },
    details: {
      type: "array",
      description:
        "Machine-readable details: google.rpc.ErrorInfo (the failure's reason), google.rpc.BadRequest, " +
        "google.rpc.RetryInfo or buf.validate.Violations (the fields that failed validation).",
      items: {
        type: "object",
        properties: { "@type": { type: "string", description: "The detail's type URL." } },
        required: ["@type"],
        additionalProperties: {},
      },
    },
  },
  required: ["code", "message", "details"],
};

export const errorResponse: Response = {
  description: "The call failed; the HTTP status follows the code.",
  content: { "application/json": { schema: { $ref: `#/components/schemas/${errorSchemaName}` } } },
};
