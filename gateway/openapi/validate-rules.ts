import { getOption, hasOption, isFieldSet } from "@bufbuild/protobuf";
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import {
  BoolRulesSchema,
  DoubleRulesSchema,
  EnumRulesSchema,
  Fixed32RulesSchema,
  Fixed64RulesSchema,
  FloatRulesSchema,
  Ignore,
  Int32RulesSchema,
  Int64RulesSchema,
  MapRulesSchema,
  RepeatedRulesSchema,
  SFixed32RulesSchema,
  SFixed64RulesSchema,
  SInt32RulesSchema,
  SInt64RulesSchema,
  StringRulesSchema,
  UInt32RulesSchema,
  UInt64RulesSchema,
  field as fieldRules,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import type { EnumRules, FieldRules, StringRules } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import type { JsonSchema } from "./openapi-types.js";

// protovalidate rules (buf.validate.field) as JSON Schema keywords, where the
// two say the same thing. What does not map is left out rather than
// approximated: bytes lengths count bytes but the JSON value is base64 text;
// 64-bit integers are JSON strings, so numeric bounds cannot apply to them;
// prefix/suffix/contains and CEL rules have no keyword. Patterns are RE2 and
// pass through unchanged: the simple ones contracts use read the same in
// ECMA-262.

/** The field's rules, or undefined when it has none or they are ignored. */
export function fieldRulesOf(field: DescField): FieldRules | undefined {
  if (!hasOption(field, fieldRules)) {
    return undefined;
  }
  const rules = getOption(field, fieldRules);
  return rules.ignore === Ignore.ALWAYS ? undefined : rules;
}

/** The rules of each element of a repeated field. */
export function itemRulesOf(rules: FieldRules | undefined): FieldRules | undefined {
  return rules?.type.case === "repeated" ? rules.type.value.items : undefined;
}

/** The rules of a map field's keys and values. */
export function mapRulesOf(rules: FieldRules | undefined): { keys?: FieldRules; values?: FieldRules } {
  if (rules?.type.case !== "map") {
    return {};
  }
  const { keys, values } = rules.type.value;
  return { ...(keys ? { keys } : {}), ...(values ? { values } : {}) };
}

/**
 * Keywords for the value the rules constrain: a scalar, an enum (by value
 * name, so `enumDesc` is needed), or the array/object of a repeated/map field.
 */
export function ruleKeywords(rules: FieldRules | undefined, enumDesc?: DescEnum): JsonSchema {
  if (rules === undefined) {
    return {};
  }
  const { type } = rules;
  switch (type.case) {
    case "string":
      return stringKeywords(type.value);
    case "float":
    case "double":
    case "int32":
    case "uint32":
    case "sint32":
    case "fixed32":
    case "sfixed32":
      return numericKeywords(type.value, numericSchemas[type.case]);
    case "bool":
      return isFieldSet(type.value, BoolRulesSchema.field.const) ? { const: type.value.const } : {};
    case "enum":
      return enumDesc === undefined ? {} : enumKeywords(type.value, enumDesc);
    case "repeated": {
      const r = type.value;
      const s = RepeatedRulesSchema.field;
      return {
        ...(isFieldSet(r, s.minItems) ? { minItems: Number(r.minItems) } : {}),
        ...(isFieldSet(r, s.maxItems) ? { maxItems: Number(r.maxItems) } : {}),
        ...(r.unique ? { uniqueItems: true } : {}),
      };
    }
    case "map": {
      const r = type.value;
      const s = MapRulesSchema.field;
      return {
        ...(isFieldSet(r, s.minPairs) ? { minProperties: Number(r.minPairs) } : {}),
        ...(isFieldSet(r, s.maxPairs) ? { maxProperties: Number(r.maxPairs) } : {}),
      };
    }
    default:
      return {};
  }
}

/**
 * Whether a request must carry the field. Besides `required`, a rule that
 * rejects the field's zero value makes it required in practice: proto3 JSON
 * reads an absent implicit-presence field as its zero value, which then fails
 * validation (e.g. `string.min_len = 1`, `repeated.min_items = 1`,
 * `int32.gt = 0`). Fields with explicit presence are validated only when set.
 */
export function isRequiredByRules(field: DescField, rules: FieldRules | undefined): boolean {
  if (rules === undefined) {
    return false;
  }
  if (rules.required) {
    return true;
  }
  if (rules.ignore === Ignore.IF_ZERO_VALUE) {
    return false;
  }
  const { type } = rules;
  if (field.fieldKind === "list") {
    return type.case === "repeated" && isFieldSet(type.value, RepeatedRulesSchema.field.minItems) && type.value.minItems > 0n;
  }
  if (field.fieldKind === "map") {
    return type.case === "map" && isFieldSet(type.value, MapRulesSchema.field.minPairs) && type.value.minPairs > 0n;
  }
  if (field.presence !== FeatureSet_FieldPresence.IMPLICIT || field.oneof !== undefined) {
    return false;
  }
  switch (type.case) {
    case "string":
      return stringRejectsEmpty(type.value);
    case "float":
    case "double":
    case "int32":
    case "uint32":
    case "sint32":
    case "fixed32":
    case "sfixed32":
    case "int64":
    case "uint64":
    case "sint64":
    case "fixed64":
    case "sfixed64":
      return setRejectsZero(type.value, numericSchemas[type.case]) || boundsRejectZero(type.value);
    case "enum":
      return setRejectsZero(type.value, EnumRulesSchema);
    case "bool":
      return isFieldSet(type.value, BoolRulesSchema.field.const) && type.value.const;
    default:
      return false;
  }
}

/** The shape every numeric rules message shares (number or bigint values). */
interface NumericRules<T extends number | bigint> extends SetRules<T> {
  lessThan: { case: "lt" | "lte"; value: T } | { case: undefined; value?: undefined };
  greaterThan: { case: "gt" | "gte"; value: T } | { case: undefined; value?: undefined };
}

/** const / in / not_in, shared by the numeric and the enum rules. */
interface SetRules<T extends number | bigint> {
  const: T;
  in: T[];
  notIn: T[];
}

const numericSchemas: Record<string, DescMessage> = {
  float: FloatRulesSchema,
  double: DoubleRulesSchema,
  int32: Int32RulesSchema,
  uint32: UInt32RulesSchema,
  sint32: SInt32RulesSchema,
  fixed32: Fixed32RulesSchema,
  sfixed32: SFixed32RulesSchema,
  int64: Int64RulesSchema,
  uint64: UInt64RulesSchema,
  sint64: SInt64RulesSchema,
  fixed64: Fixed64RulesSchema,
  sfixed64: SFixed64RulesSchema,
};

function constSet(rules: object, schema: DescMessage | undefined): boolean {
  const field = schema?.fields.find((f) => f.name === "const");
  return field !== undefined && isFieldSet(rules as never, field);
}

function numericKeywords(rules: NumericRules<number>, schema: DescMessage | undefined): JsonSchema {
  const lower: JsonSchema = {};
  const upper: JsonSchema = {};
  if (rules.greaterThan.case === "gt") lower.exclusiveMinimum = rules.greaterThan.value;
  if (rules.greaterThan.case === "gte") lower.minimum = rules.greaterThan.value;
  if (rules.lessThan.case === "lt") upper.exclusiveMaximum = rules.lessThan.value;
  if (rules.lessThan.case === "lte") upper.maximum = rules.lessThan.value;
  const keywords: JsonSchema = {
    ...(constSet(rules, schema) ? { const: rules.const } : {}),
    ...(rules.in.length > 0 ? { enum: [...rules.in] } : {}),
    ...(rules.notIn.length > 0 ? { not: { enum: [...rules.notIn] } } : {}),
  };
  // protovalidate reads a lower bound above the upper bound as "outside the
  // range": either side may hold.
  const inverted =
    rules.greaterThan.case !== undefined &&
    rules.lessThan.case !== undefined &&
    rules.greaterThan.value > rules.lessThan.value;
  return inverted ? { ...keywords, anyOf: [lower, upper] } : { ...keywords, ...lower, ...upper };
}

function setRejectsZero(rules: SetRules<number | bigint>, schema: DescMessage | undefined): boolean {
  return (
    (constSet(rules, schema) && Number(rules.const) !== 0) ||
    (rules.in.length > 0 && !rules.in.some((v) => Number(v) === 0)) ||
    rules.notIn.some((v) => Number(v) === 0)
  );
}

function boundsRejectZero(rules: NumericRules<number | bigint>): boolean {
  const { greaterThan: gt, lessThan: lt } = rules;
  const lowerOk = gt.case === undefined || (gt.case === "gt" ? 0 > Number(gt.value) : 0 >= Number(gt.value));
  const upperOk = lt.case === undefined || (lt.case === "lt" ? 0 < Number(lt.value) : 0 <= Number(lt.value));
  const inverted = gt.case !== undefined && lt.case !== undefined && Number(gt.value) > Number(lt.value);
  return inverted ? !(lowerOk || upperOk) : !(lowerOk && upperOk);
}

const stringFormats: Record<string, string> = {
  email: "email",
  hostname: "hostname",
  ipv4: "ipv4",
  ipv6: "ipv6",
  uri: "uri",
  uriRef: "uri-reference",
  uuid: "uuid",
};

function stringKeywords(rules: StringRules): JsonSchema {
  const s = StringRulesSchema.field;
  const keywords: JsonSchema = {};
  if (isFieldSet(rules, s.len)) {
    keywords.minLength = Number(rules.len);
    keywords.maxLength = Number(rules.len);
  }
  if (isFieldSet(rules, s.minLen)) keywords.minLength = Number(rules.minLen);
  if (isFieldSet(rules, s.maxLen)) keywords.maxLength = Number(rules.maxLen);
  if (isFieldSet(rules, s.pattern)) keywords.pattern = rules.pattern;
  if (isFieldSet(rules, s.const)) keywords.const = rules.const;
  if (rules.in.length > 0) keywords.enum = [...rules.in];
  if (rules.notIn.length > 0) keywords.not = { enum: [...rules.notIn] };
  const format = rules.wellKnown.case === undefined ? undefined : stringFormats[rules.wellKnown.case];
  if (format !== undefined && rules.wellKnown.value === true) keywords.format = format;
  return keywords;
}

function stringRejectsEmpty(rules: StringRules): boolean {
  const s = StringRulesSchema.field;
  return (
    (isFieldSet(rules, s.len) && rules.len > 0n) ||
    (isFieldSet(rules, s.minLen) && rules.minLen > 0n) ||
    (isFieldSet(rules, s.const) && rules.const !== "") ||
    (rules.in.length > 0 && !rules.in.includes("")) ||
    rules.notIn.includes("") ||
    (rules.wellKnown.case !== undefined && rules.wellKnown.value === true)
  );
}

/** Enum rules are written in numbers; the JSON carries value names. */
function enumKeywords(rules: EnumRules, enumDesc: DescEnum): JsonSchema {
  const nameOf = (n: number) => enumDesc.values.find((v) => v.number === n)?.name;
  const names = (ns: number[]) => ns.map(nameOf).filter((n): n is string => n !== undefined);
  const keywords: JsonSchema = {};
  const constName = constSet(rules, EnumRulesSchema) ? nameOf(rules.const) : undefined;
  if (constName !== undefined) keywords.const = constName;
  if (rules.in.length > 0) keywords.enum = names(rules.in);
  if (rules.notIn.length > 0) keywords.not = { enum: names(rules.notIn) };
  return keywords;
}
