import type { DescField, DescMethod, DescMethodUnary } from "@bufbuild/protobuf";
import { fieldPathName, isTextSettable, resolveFieldPath, type FieldPath } from "./field-path.js";
import { parsePathTemplate, type PathTemplate } from "./path-template.js";

/** Where the HTTP request body goes in the request message (HttpRule.body). */
export type RouteBody =
  /** `body` omitted: the request has no body; unbound fields come from the query. */
  | { readonly kind: "none" }
  /** `body: "*"`: the body is the whole request message. */
  | { readonly kind: "whole" }
  /** `body: "field"`: the body is that top-level field. */
  | { readonly kind: "field"; readonly field: DescField };

/** A path variable and the request field it sets. */
export interface BoundVariable {
  /** The field path as written in the template (the key in path params). */
  readonly fieldPath: string;
  readonly fields: FieldPath;
}

/** One HTTP binding of an RPC: a google.api.http rule or one of its additional_bindings. */
export interface Route {
  /** The RPC the binding calls (always unary: createRoute refuses streaming methods). */
  readonly method: DescMethodUnary;
  /** GET, POST, PUT, PATCH, DELETE, or a custom rule's kind as written. */
  readonly httpMethod: string;
  readonly template: PathTemplate;
  readonly pathVariables: readonly BoundVariable[];
  readonly body: RouteBody;
  /** HttpRule.response_body: the response field sent as the HTTP body; the whole response when undefined. */
  readonly responseField: DescField | undefined;
}

/** The parts of an HttpRule that make one route. */
export interface RouteSpec {
  readonly httpMethod: string;
  readonly path: string;
  readonly body: string;
  readonly responseBody: string;
}

/**
 * Checks one binding against the method's request and response messages and
 * compiles it. Everything the contract could get wrong is caught here, when the
 * gateway starts, with an Error naming the method: a bad template, a variable
 * naming no field or a repeated/map/message field, a body or response_body
 * naming no top-level field, a streaming method.
 */
export function createRoute(method: DescMethod, spec: RouteSpec): Route {
  const where = `${method.parent.typeName}.${method.name} (${spec.httpMethod} ${spec.path})`;
  const fail = (why: string): never => {
    throw new Error(`bad google.api.http binding on ${where}: ${why}`);
  };
  if (method.methodKind !== "unary") {
    return fail("only unary methods can be transcoded");
  }
  let template: PathTemplate;
  try {
    template = parsePathTemplate(spec.path);
  } catch (err) {
    return fail((err as Error).message);
  }
  const pathVariables = template.variables.map((v): BoundVariable => {
    const resolved = resolveFieldPath(method.input, v.fieldPath, false);
    if ("problem" in resolved) {
      return fail(`path variable "${v.fieldPath}": ${resolved.problem}`);
    }
    const leaf = resolved.fields[resolved.fields.length - 1]!;
    if (!isTextSettable(leaf, false)) {
      fail(`path variable "${v.fieldPath}" must name a singular scalar, enum or well-known-type field`);
    }
    return { fieldPath: v.fieldPath, fields: resolved.fields };
  });
  const names = pathVariables.map((v) => fieldPathName(v.fields));
  if (new Set(names).size !== names.length) {
    fail("two path variables bind the same field");
  }
  return {
    method: method as DescMethodUnary,
    httpMethod: spec.httpMethod,
    template,
    pathVariables,
    body: routeBody(method, spec.body, fail),
    responseField: spec.responseBody === "" ? undefined : topLevelField(method.output, spec.responseBody, "response_body", fail),
  };
}

function routeBody(method: DescMethod, body: string, fail: (why: string) => never): RouteBody {
  if (body === "") return { kind: "none" };
  if (body === "*") return { kind: "whole" };
  return { kind: "field", field: topLevelField(method.input, body, "body", fail) };
}

function topLevelField(
  message: DescMethod["input"],
  name: string,
  option: string,
  fail: (why: string) => never,
): DescField {
  const field = message.fields.find((f) => f.name === name);
  return field ?? fail(`${option} "${name}" is not a field of ${message.typeName}`);
}
