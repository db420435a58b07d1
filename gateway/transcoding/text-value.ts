import { ScalarType, type DescField, type JsonValue } from "@bufbuild/protobuf";

/**
 * The proto3 JSON value for one URL text value of a field (see
 * isTextSettable), so that protobuf-es parses it exactly as it parses a JSON
 * body: numbers (64-bit included, range-checked), enums by name, RFC 3339
 * timestamps, "1.5s" durations, comma-separated field masks, base64 bytes.
 * Only what JSON cannot say as a string is converted here: booleans
 * ("true"/"false"), and enums given by number.
 */
export function textToJson(field: DescField, text: string): JsonValue {
  if (isBool(field)) {
    return text === "true" ? true : text === "false" ? false : text;
  }
  if ((field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum")) && /^-?\d+$/.test(text)) {
    return Number(text);
  }
  return text;
}

function isBool(field: DescField): boolean {
  switch (field.fieldKind) {
    case "scalar":
      return field.scalar === ScalarType.BOOL;
    case "list":
      return (
        (field.listKind === "scalar" && field.scalar === ScalarType.BOOL) ||
        (field.listKind === "message" && field.message.typeName === "google.protobuf.BoolValue")
      );
    case "message":
      return field.message.typeName === "google.protobuf.BoolValue";
    default:
      return false;
  }
}
