import type { DescField, DescMessage } from "@bufbuild/protobuf";

/** The fields from a request message down to one of its (nested) fields. */
export type FieldPath = readonly DescField[];

/**
 * Resolves a dotted field path (`book.name`) against a message. Each name is a
 * proto field name; with `acceptJsonNames`, a JSON name (`pageSize`) too, as
 * in a query string. Every field but the last must be a singular message field
 * that is not a well-known type (those are leaves: they have a JSON text form).
 * Returns the fields, or why the path does not resolve.
 */
export function resolveFieldPath(
  message: DescMessage,
  path: string,
  acceptJsonNames: boolean,
): { readonly fields: FieldPath } | { readonly problem: string } {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const name of path.split(".")) {
    if (current === undefined) {
      return { problem: `"${fields.map((f) => f.name).join(".")}" is not a message field` };
    }
    const field: DescField | undefined = current.fields.find(
      (f) => f.name === name || (acceptJsonNames && f.jsonName === name),
    );
    if (field === undefined) {
      return { problem: `${current.typeName} has no field "${name}"` };
    }
    fields.push(field);
    current = field.fieldKind === "message" && !isWellKnown(field.message) ? field.message : undefined;
  }
  return { fields };
}

/** The field path in proto names, whatever spelling resolved it. */
export function fieldPathName(path: FieldPath): string {
  return path.map((f) => f.name).join(".");
}

/**
 * Whether one URL text value (a path segment, a query value) can set the
 * field: a singular scalar or enum, or a well-known type whose proto3 JSON form
 * is a string or number (Timestamp, Duration, FieldMask, wrappers). With
 * `allowList`, a repeated field of those too (one value per occurrence).
 */
export function isTextSettable(field: DescField, allowList: boolean): boolean {
  switch (field.fieldKind) {
    case "scalar":
    case "enum":
      return true;
    case "message":
      return textWellKnown.has(field.message.typeName);
    case "list":
      return allowList && (field.listKind !== "message" || textWellKnown.has(field.message.typeName));
    case "map":
      return false;
  }
}

const textWellKnown: ReadonlySet<string> = new Set(
  [
    "Timestamp",
    "Duration",
    "FieldMask",
    "DoubleValue",
    "FloatValue",
    "Int64Value",
    "UInt64Value",
    "Int32Value",
    "UInt32Value",
    "BoolValue",
    "StringValue",
    "BytesValue",
  ].map((name) => `google.protobuf.${name}`),
);

function isWellKnown(message: DescMessage): boolean {
  return message.file.name.startsWith("google/protobuf/");
}
