import { isDeepStrictEqual } from "node:util";

/**
 * What a contract expects at a response field: a literal JSON value (the
 * consumer branches on it, e.g. an order state) or a matcher:
 * - `{"type": "string" | "integer" | "number" | "boolean" | "array" | "object"}`:
 *   the consumer reads the field as that type. "integer" also accepts a string
 *   of digits, which is how proto3 JSON writes 64-bit integers;
 * - `{"present": true}`: the field is there, whatever its value;
 * - `{"equals": <value>}`: a literal that is itself an object.
 */
export type Expected = string | number | boolean | null | readonly unknown[] | Matcher;

export type Matcher =
  | { readonly type: JsonType }
  | { readonly present: true }
  | { readonly equals: unknown };

export type JsonType = "string" | "integer" | "number" | "boolean" | "array" | "object";

const jsonTypes = new Set<string>(["string", "integer", "number", "boolean", "array", "object"]);

export function isMatcher(value: object): value is Matcher {
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    return false;
  }
  const record = value as Record<string, unknown>;
  return (
    (keys[0] === "type" && typeof record.type === "string" && jsonTypes.has(record.type)) ||
    (keys[0] === "present" && record.present === true) ||
    keys[0] === "equals"
  );
}

/** Why `values` (what a path found) do not meet `expected`, or undefined when they do. */
export function mismatch(expected: Expected, values: readonly unknown[]): string | undefined {
  if (values.length === 0) {
    return `expected ${describeExpected(expected)}, got no such field`;
  }
  for (const value of values) {
    if (!matches(expected, value)) {
      return `expected ${describeExpected(expected)}, got ${JSON.stringify(value)}`;
    }
  }
  return undefined;
}

/** The JSON type of a value as a contract names it: whole numbers and digit strings are "integer" when `integerLike`. */
export function jsonTypeOf(value: unknown, integerLike: boolean): JsonType {
  if (Array.isArray(value)) {
    return "array";
  }
  if (value === null || typeof value === "object") {
    return "object";
  }
  if (integerLike && (Number.isInteger(value) || (typeof value === "string" && /^-?\d+$/.test(value)))) {
    return "integer";
  }
  return typeof value as JsonType;
}

function matches(expected: Expected, value: unknown): boolean {
  if (typeof expected !== "object" || expected === null || Array.isArray(expected)) {
    return isDeepStrictEqual(expected, value);
  }
  const matcher = expected as Matcher;
  if ("present" in matcher) {
    return true;
  }
  if ("equals" in matcher) {
    return isDeepStrictEqual(matcher.equals, value);
  }
  if (matcher.type === "integer") {
    return jsonTypeOf(value, true) === "integer";
  }
  return jsonTypeOf(value, false) === matcher.type;
}

function describeExpected(expected: Expected): string {
  if (typeof expected === "object" && expected !== null && !Array.isArray(expected)) {
    const matcher = expected as Matcher;
    if ("type" in matcher) {
      return `${/^[aeiou]/.test(matcher.type) ? "an" : "a"} ${matcher.type}`;
    }
    if ("present" in matcher) {
      return "the field to be present";
    }
    return JSON.stringify(matcher.equals);
  }
  return JSON.stringify(expected);
}
