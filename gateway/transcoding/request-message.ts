import { create, mergeFromJson, type DescField, type JsonValue, type Message } from "@bufbuild/protobuf";
import { parseJsonExactly } from "./exact-json.js";
import { isReflectMessage, reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { Code, ConnectError } from "@connectrpc/connect";
import { fieldPathName, isTextSettable, resolveFieldPath, type FieldPath } from "./field-path.js";
import type { Route } from "./route.js";
import { textToJson } from "./text-value.js";

/**
 * Builds the request message of a matched route from the HTTP request, as
 * google/api/http.proto describes (grpc-gateway and Envoy agree):
 *
 * 1. The body, per the rule's `body`: `*` is the whole message in proto3 JSON;
 *    a field name is that field's JSON; none means the request has no body.
 *    JSON and proto field names are both accepted; unknown fields are refused.
 *    An empty (or all-whitespace) body is no body: the fields stay unset.
 * 2. Path variables set their (nested) fields, over whatever the body said:
 *    the URL names the resource.
 * 3. Every other field may come from the query string, by proto or JSON name,
 *    dotted for nested fields (`filter.min_pages`), repeated by repetition
 *    (`authors=a&authors=b`).
 *
 * Text values are parsed by protobuf-es's JSON reader (see textToJson), so
 * they mean exactly what they mean in a JSON body. Every client mistake throws
 * InvalidArgument naming the field or parameter: malformed JSON, unknown JSON
 * fields, a body where the rule has none, an unknown query parameter, one that
 * targets a field bound by the path or body, a second value for a singular
 * field, two members of one oneof, a value that does not parse (an int64 out
 * of range, an enum name that does not exist, a bad timestamp).
 */
export function buildRequest(
  route: Route,
  pathParams: Readonly<Record<string, string>>,
  query: URLSearchParams,
  body: string | undefined,
): Message {
  const schema = route.method.input;
  const message = create(schema);
  const root = reflect(schema, message);
  const oneofs = new OneofTracker();
  readBody(route, root, body);
  for (const variable of route.pathVariables) {
    const value = pathParams[variable.fieldPath];
    if (value === undefined) {
      throw new Error(`path parameter "${variable.fieldPath}" of ${route.template.source} is missing`);
    }
    const label = `path parameter "${variable.fieldPath}"`;
    oneofs.claim(variable.fields, label);
    setFromText(root, variable.fields, [value], label);
  }
  for (const [name, { fields, values }] of queryFields(route, query)) {
    const label = `query parameter "${name}"`;
    oneofs.claim(fields, label);
    setFromText(root, fields, values, label);
  }
  return message;
}

function readBody(route: Route, root: ReflectMessage, body: string | undefined): void {
  const hasBody = body !== undefined && body.trim() !== "";
  if (route.body.kind === "none") {
    if (hasBody) {
      throw invalid(`${route.httpMethod} ${route.template.source} takes no request body`);
    }
    return;
  }
  if (!hasBody) {
    return;
  }
  let json: JsonValue;
  try {
    json = parseJsonExactly(body, route.body.kind === "whole" ? root.desc : route.body.field) as JsonValue;
  } catch (err) {
    throw invalid(`malformed JSON: ${(err as Error).message}`, err);
  }
  const value = route.body.kind === "whole" ? json : { [route.body.field.jsonName]: json };
  try {
    mergeFromJson(root.desc, root.message, value);
  } catch (err) {
    throw invalid(`invalid request body: ${(err as Error).message}`, err);
  }
}

/**
 * The query parameters grouped by the field they set (so `page_size` and
 * `pageSize` are one field), checked against the route's bindings.
 */
function queryFields(route: Route, query: URLSearchParams): Map<string, { fields: FieldPath; values: string[] }> {
  const byField = new Map<string, { name: string; fields: FieldPath; values: string[] }>();
  const unknown: string[] = [];
  for (const [name, value] of query) {
    const resolved = resolveFieldPath(route.method.input, name, true);
    if ("problem" in resolved) {
      if (!unknown.includes(name)) unknown.push(name);
      continue;
    }
    const key = fieldPathName(resolved.fields);
    const entry = byField.get(key);
    if (entry === undefined) {
      byField.set(key, { name, fields: resolved.fields, values: [value] });
    } else {
      entry.values.push(value);
    }
  }
  if (unknown.length > 0) {
    const list = unknown.map((n) => `"${n}"`).join(", ");
    throw invalid(`unknown query parameter${unknown.length > 1 ? "s" : ""} ${list} for ${route.method.input.typeName}`);
  }
  const bound = boundPaths(route);
  const result = new Map<string, { fields: FieldPath; values: string[] }>();
  for (const [key, { name, fields, values }] of byField) {
    if (route.body.kind === "whole") {
      throw invalid(`query parameter "${name}" is not allowed: the request body carries every field`);
    }
    const clash = bound.find((b) => key === b.path || key.startsWith(`${b.path}.`) || b.path.startsWith(`${key}.`));
    if (clash !== undefined) {
      throw invalid(`query parameter "${name}" is not allowed: "${clash.path}" is bound by the ${clash.by}`);
    }
    const leaf = fields[fields.length - 1]!;
    if (!isTextSettable(leaf, true)) {
      throw invalid(`query parameter "${name}" cannot be set from the query string (${leaf.fieldKind} field)`);
    }
    if (leaf.fieldKind !== "list" && values.length > 1) {
      throw invalid(`query parameter "${name}" is given ${values.length} times, but the field is not repeated`);
    }
    result.set(name, { fields, values });
  }
  return result;
}

function boundPaths(route: Route): { path: string; by: string }[] {
  const bound = route.pathVariables.map((v) => ({ path: fieldPathName(v.fields), by: "path" }));
  if (route.body.kind === "field") {
    bound.push({ path: route.body.field.name, by: "request body" });
  }
  return bound;
}

/** Sets a field from URL text, creating the messages on the way. */
function setFromText(root: ReflectMessage, fields: FieldPath, values: readonly string[], label: string): void {
  let target = root;
  for (const field of fields.slice(0, -1)) {
    if (!target.isSet(field)) {
      target.set(field, reflect(field.message!, create(field.message!)));
    }
    const next = target.get(field);
    if (!isReflectMessage(next)) {
      throw new Error(`${field.name} is not a message field`);
    }
    target = next;
  }
  const leaf: DescField = fields[fields.length - 1]!;
  const json = leaf.fieldKind === "list" ? values.map((v) => textToJson(leaf, v)) : textToJson(leaf, values[0]!);
  try {
    mergeFromJson(target.desc, target.message, { [leaf.jsonName]: json });
  } catch (err) {
    throw invalid(`invalid value for ${label}: ${(err as Error).message}`, err);
  }
}

/** Refuses a second member of one oneof (in one message instance). */
class OneofTracker {
  private readonly claimed = new Map<string, { field: string; label: string }>();

  claim(fields: FieldPath, label: string): void {
    fields.forEach((field, i) => {
      if (field.oneof === undefined) return;
      const key = `${fieldPathName(fields.slice(0, i))}#${field.oneof.name}`;
      const prior = this.claimed.get(key);
      if (prior !== undefined && prior.field !== field.name) {
        throw invalid(`${prior.label} and ${label} set two members of oneof "${field.oneof.name}"`);
      }
      this.claimed.set(key, { field: field.name, label });
    });
  }
}

function invalid(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.InvalidArgument, undefined, undefined, cause);
}
