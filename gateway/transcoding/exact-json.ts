import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";

/**
 * JSON.parse for a request body that is message `schema` (body "*") or the
 * value of field `schema` (body "field"), except that an integer
 * a double cannot hold exactly (beyond 2^53) stays exact where the field it
 * sets is a 64-bit integer (int64, uint64, sint64, fixed64, sfixed64, their
 * wrappers, repeated and map values): there it becomes the digit string
 * proto3 JSON also accepts. Everywhere else it is the number JSON.parse
 * makes, so a number for a string field is refused the same whatever its
 * size, and a double field rounds it as it would any number.
 */
export function parseJsonExactly(text: string, schema: DescMessage | DescField): unknown {
  const marker = `\u0000${randomBytes(6).toString("hex")}:`;
  const json: unknown = JSON.parse(quoteUnsafeIntegers(text, marker));
  return schema.kind === "message" ? exact(json, marker, { message: schema }) : exactField(json, marker, schema);
}

/** What a JSON value sets: a message's fields, a 64-bit integer, or anything else. */
type Target = { readonly message: DescMessage } | { readonly int64: true } | undefined;

const int64Scalars = new Set<ScalarType>([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);
const int64Wrappers = new Set(["google.protobuf.Int64Value", "google.protobuf.UInt64Value"]);

function exact(value: unknown, marker: string, target: Target): unknown {
  if (typeof value === "string") {
    if (!value.startsWith(marker)) {
      return value;
    }
    const digits = value.slice(marker.length);
    return target !== undefined && "int64" in target ? digits : Number(digits);
  }
  if (Array.isArray(value)) {
    return value.map((element) => exact(element, marker, target));
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  const message = target !== undefined && "message" in target ? target.message : undefined;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = message?.fields.find((f) => f.jsonName === key || f.name === key);
    out[key] = field === undefined ? exact(v, marker, undefined) : exactField(v, marker, field);
  }
  return out;
}

function exactField(value: unknown, marker: string, field: DescField): unknown {
  switch (field.fieldKind) {
    case "scalar":
    case "list":
      if (field.scalar !== undefined) {
        return exact(value, marker, int64Scalars.has(field.scalar) ? { int64: true } : undefined);
      }
      return exact(value, marker, field.message === undefined ? undefined : messageTarget(field.message));
    case "map":
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return exact(value, marker, undefined);
      }
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [
          k,
          exact(v, marker, field.mapKind === "scalar" ? (int64Scalars.has(field.scalar) ? { int64: true } : undefined) : field.mapKind === "message" ? messageTarget(field.message) : undefined),
        ]),
      );
    case "message":
      return exact(value, marker, messageTarget(field.message));
    default:
      return exact(value, marker, undefined);
  }
}

/** A message field's target: an int64 wrapper is its bare value in JSON; other well-known types hold plain JSON. */
function messageTarget(message: DescMessage): Target {
  if (int64Wrappers.has(message.typeName)) {
    return { int64: true };
  }
  return message.typeName.startsWith("google.protobuf.") ? undefined : { message };
}

const integer = /-?\d+/y;

/** The text with every integer beyond 2^53 (outside strings) written as the string `marker` + digits. */
function quoteUnsafeIntegers(text: string, marker: string): string {
  let out: string[] | undefined;
  let copiedTo = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) {
        i++;
      } else if (c === 0x22 /* " */) {
        inString = false;
      }
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if (c !== 0x2d /* - */ && (c < 0x30 || c > 0x39)) {
      continue;
    }
    integer.lastIndex = i;
    const match = integer.exec(text);
    if (match === null) {
      continue;
    }
    const end = i + match[0].length;
    const next = text.charCodeAt(end);
    const isInteger = next !== 0x2e /* . */ && next !== 0x65 /* e */ && next !== 0x45; /* E */
    if (isInteger && !Number.isSafeInteger(Number(match[0]))) {
      out ??= [];
      out.push(text.slice(copiedTo, i), JSON.stringify(marker + match[0]));
      copiedTo = end;
    }
    i = end - 1;
  }
  return out === undefined ? text : out.join("") + text.slice(copiedTo);
}
