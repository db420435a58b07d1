import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import fc from "fast-check";

/**
 * Arbitrary request messages of any contract, built from its descriptor (the
 * generated code in gen/, read by reflection): proto3 JSON values with any
 * subset of the fields set, at most one member of each oneof, values drawn
 * from a mix of plain random ones, the boundaries of their type and the
 * mesh's own vocabulary (real SKUs, test card tokens), so that some generated
 * requests are valid and reach the services' logic, not only their parsers.
 * Mutations (mutate.ts) then break them.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Strings the mesh knows: a generated request sometimes names a real item or a working card. */
const vocabulary = ["MUG-001", "TEE-001", "CAP-001", "STICKER-001", "tok_visa", "tok_declined", "tok_insufficient_funds", "alice", "bob"];

/** Strings that have broken parsers before: empty, blank, long, non-ASCII, separators, escapes. */
const awkwardStrings = [
  "",
  " ",
  "\t",
  "a".repeat(65),
  "x".repeat(300),
  "é",
  "\u2028",
  "\u0000",
  "💥",
  "\uFFFD",
  "../..",
  "%00",
  "%ZZ",
  "a/b",
  "a:b",
  "a?b",
  "a#b",
  "{}",
  "null",
  "__proto__",
  "constructor",
  "1e400",
  "NaN",
  "-0",
];

export const stringValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...vocabulary), weight: 3 },
  { arbitrary: fc.constantFrom(...awkwardStrings), weight: 2 },
  { arbitrary: fc.string({ maxLength: 24 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }), weight: 1 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
  { arbitrary: fc.uuid(), weight: 2 },
);

const int32Value: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: -3, max: 12 }), weight: 4 },
  { arbitrary: fc.constantFrom(0, 1, 50, 51, 100, 101, 1000, 1001, 2147483647, -2147483648), weight: 2 },
  { arbitrary: fc.integer(), weight: 1 },
);

const uint32Value: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 12 }), weight: 4 },
  { arbitrary: fc.constantFrom(0, 1, 100, 1000, 4294967295), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 4294967295 }), weight: 1 },
);

/** int64 as proto3 JSON allows it: a number when exact, else a decimal string. */
const int64Value: fc.Arbitrary<Json> = fc.oneof(
  int32Value,
  fc.constantFrom("9223372036854775807", "-9223372036854775808", "0", "-1"),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => n.toString()),
);

const uint64Value: fc.Arbitrary<Json> = fc.oneof(
  uint32Value,
  fc.constantFrom("18446744073709551615", "0"),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => n.toString()),
);

const doubleValue: fc.Arbitrary<Json> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom("NaN", "Infinity", "-Infinity", 0, -0, 1.5),
);

const bytesValue: fc.Arbitrary<string> = fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b).toString("base64"));

function scalarValue(scalar: ScalarType): fc.Arbitrary<Json> {
  switch (scalar) {
    case ScalarType.STRING:
      return stringValue;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return bytesValue;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return doubleValue;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return int64Value;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return uint64Value;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32Value;
    default:
      return int32Value;
  }
}

function enumValue(desc: DescEnum): fc.Arbitrary<Json> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...desc.values.map((v) => v.name)), weight: 4 },
    { arbitrary: fc.constantFrom(...desc.values.map((v) => v.number)), weight: 1 },
    { arbitrary: fc.integer({ min: -2, max: 1000 }), weight: 1 },
  );
}

const timestampValue: fc.Arbitrary<Json> = fc
  .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
  .map((d) => d.toISOString());

const durationValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom("0s", "1s", "1.5s", "-1s", "315576000000s"),
  fc.integer({ min: -10_000, max: 10_000 }).map((n) => `${n / 1000}s`),
);

/** Well-known types in their proto3 JSON forms; undefined for those the contracts' requests do not use. */
function wellKnownValue(desc: DescMessage): fc.Arbitrary<Json> | undefined {
  switch (desc.typeName) {
    case "google.protobuf.Timestamp":
      return timestampValue;
    case "google.protobuf.Duration":
      return durationValue;
    default:
      return desc.typeName.startsWith("google.protobuf.") ? fc.constant(null) : undefined;
  }
}

function singularValue(field: DescField, depth: number): fc.Arbitrary<Json> {
  switch (field.fieldKind) {
    case "scalar":
      return scalarValue(field.scalar);
    case "enum":
      return enumValue(field.enum);
    case "message":
      return messageJson(field.message, depth + 1);
    case "list": {
      const element =
        field.listKind === "scalar" ? scalarValue(field.scalar) : field.listKind === "enum" ? enumValue(field.enum) : messageJson(field.message, depth + 1);
      return fc.array(element, { maxLength: depth > 1 ? 2 : 5 });
    }
    case "map": {
      const value = field.mapKind === "scalar" ? scalarValue(field.scalar) : field.mapKind === "enum" ? enumValue(field.enum) : messageJson(field.message, depth + 1);
      return fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 3 });
    }
  }
}

const cache = new Map<string, fc.Arbitrary<Json>>();

/**
 * A proto3 JSON object of `desc`: each field present or not, by its JSON name;
 * nested messages below depth 3 are left empty.
 */
export function messageJson(desc: DescMessage, depth = 0): fc.Arbitrary<Json> {
  const wellKnown = wellKnownValue(desc);
  if (wellKnown !== undefined) {
    return wellKnown;
  }
  if (depth > 3) {
    return fc.constant({});
  }
  const key = `${desc.typeName}@${depth}`;
  const cached = cache.get(key);
  if (cached !== undefined) {
    return cached;
  }
  // Oneof members: one chosen (or none) per oneof; the other fields each maybe.
  const plain = desc.fields.filter((f) => f.oneof === undefined);
  const record: Record<string, fc.Arbitrary<Json>> = {};
  for (const field of plain) {
    record[field.jsonName] = singularValue(field, depth);
  }
  const oneofs = desc.oneofs.map((oneof) =>
    fc.option(fc.oneof(...oneof.fields.map((f) => singularValue(f, depth).map((value): [string, Json] => [f.jsonName, value]))), { nil: undefined }),
  );
  const made = fc
    .tuple(fc.record(record, { requiredKeys: [] }), fc.tuple(...oneofs))
    .map(([fields, chosen]) => {
      const out: { [key: string]: Json } = { ...(fields as Record<string, Json>) };
      for (const pick of chosen) {
        if (pick !== undefined) {
          out[pick[0]] = pick[1];
        }
      }
      return out;
    });
  cache.set(key, made);
  return made;
}

/** The field of `desc` (any depth of the message itself) whose values are strings, for planting invalid UTF-8. */
export function stringFieldNumbers(desc: DescMessage): number[] {
  return desc.fields.filter((f) => (f.fieldKind === "scalar" || f.fieldKind === "list") && f.scalar === ScalarType.STRING).map((f) => f.number);
}
