import { ScalarType } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import type { JsonSchema } from "./openapi-types.js";

// The proto3 JSON mapping (https://protobuf.dev/programming-guides/json/) of
// scalars and well-known types, as JSON Schema. Schemas describe what the
// gateway writes; parsers also accept a few alternatives (numbers for 64-bit
// integers, enum numbers, "NaN" for floats) that are left out to keep clients
// on the canonical form.

const int64: JsonSchema = { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
const uint64: JsonSchema = { type: "string", format: "uint64", pattern: "^[0-9]+$" };

export function scalarSchema(scalar: ScalarType): JsonSchema {
  switch (scalar) {
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32", minimum: 0, maximum: 4294967295 };
    // 64-bit integers are strings: a JSON number loses precision past 2^53.
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { ...int64 };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { ...uint64 };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte", contentEncoding: "base64" };
  }
}

/** Map keys are always JSON object keys; non-string keys are their decimal or boolean text. */
export function mapKeySchema(scalar: ScalarType): JsonSchema | undefined {
  switch (scalar) {
    case ScalarType.STRING:
      return undefined;
    case ScalarType.BOOL:
      return { enum: ["true", "false"] };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { pattern: "^[0-9]+$" };
    default:
      return { pattern: "^-?[0-9]+$" };
  }
}

const wrapperValue: Record<string, ScalarType> = {
  "google.protobuf.DoubleValue": ScalarType.DOUBLE,
  "google.protobuf.FloatValue": ScalarType.FLOAT,
  "google.protobuf.Int64Value": ScalarType.INT64,
  "google.protobuf.UInt64Value": ScalarType.UINT64,
  "google.protobuf.Int32Value": ScalarType.INT32,
  "google.protobuf.UInt32Value": ScalarType.UINT32,
  "google.protobuf.BoolValue": ScalarType.BOOL,
  "google.protobuf.StringValue": ScalarType.STRING,
  "google.protobuf.BytesValue": ScalarType.BYTES,
};

/** Well-known types whose JSON form is a single string, number or boolean. */
const scalarLike: Record<string, () => JsonSchema> = {
  "google.protobuf.Timestamp": () => ({ type: "string", format: "date-time" }),
  "google.protobuf.Duration": () => ({
    type: "string",
    pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$",
    description: 'Seconds with up to nine fractional digits and an "s" suffix, e.g. "1.5s".',
  }),
  "google.protobuf.FieldMask": () => ({
    type: "string",
    description: "Comma-separated field paths in lowerCamelCase, e.g. \"user.displayName,photo\".",
  }),
};

const structured: Record<string, () => JsonSchema> = {
  "google.protobuf.Struct": () => ({ type: "object", additionalProperties: {} }),
  "google.protobuf.Value": () => ({ description: "Any JSON value." }),
  "google.protobuf.ListValue": () => ({ type: "array", items: {} }),
  "google.protobuf.Empty": () => ({ type: "object" }),
  "google.protobuf.Any": () => ({
    type: "object",
    properties: { "@type": { type: "string", description: "The type URL of the embedded message." } },
    required: ["@type"],
    additionalProperties: {},
  }),
};

/**
 * The inline schema of a well-known type, or undefined for any other message
 * (which gets a component). Wrappers are their wrapped scalar.
 */
export function wellKnownSchema(message: DescMessage): JsonSchema | undefined {
  const wrapped = wrapperValue[message.typeName];
  if (wrapped !== undefined) {
    return scalarSchema(wrapped);
  }
  return (scalarLike[message.typeName] ?? structured[message.typeName])?.();
}

/** Whether a message field can be a query parameter: its JSON is one scalar. */
export function isScalarLikeMessage(message: DescMessage): boolean {
  return message.typeName in wrapperValue || message.typeName in scalarLike;
}
