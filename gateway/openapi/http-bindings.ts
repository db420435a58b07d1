import { getOption, hasOption } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import type { HttpMethod } from "./openapi-types.js";

/** One HTTP route of an RPC: the primary google.api.http rule or an additional binding. */
export interface HttpBinding {
  readonly method: HttpMethod;
  /** The path template as written in the .proto. */
  readonly template: string;
  /** "" (no body), "*" (every field not bound by the path) or a top-level field name. */
  readonly body: string;
  /** "" (the whole response message) or a top-level field name of the response. */
  readonly responseBody: string;
}

const openApiMethods: ReadonlySet<string> = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

/** The method's routes, primary first; none when it has no google.api.http option. */
export function httpBindingsOf(method: DescMethod): HttpBinding[] {
  if (!hasOption(method, http)) {
    return [];
  }
  const rule = getOption(method, http);
  return [rule, ...rule.additionalBindings].map((binding) => toBinding(method, binding));
}

function toBinding(method: DescMethod, rule: HttpRule): HttpBinding {
  let verb: string;
  let template: string;
  switch (rule.pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      verb = rule.pattern.case;
      template = rule.pattern.value;
      break;
    case "custom":
      verb = rule.pattern.value.kind.toLowerCase();
      template = rule.pattern.value.path;
      break;
    default:
      throw new Error(`${method.parent.typeName}.${method.name}: google.api.http rule has no pattern`);
  }
  // OpenAPI 3.1 has a fixed set of operations; a custom verb outside it cannot
  // be described, and leaving the route out silently would be worse.
  if (!openApiMethods.has(verb)) {
    throw new Error(`${method.parent.typeName}.${method.name}: HTTP method "${verb}" has no OpenAPI 3.1 operation`);
  }
  return { method: verb as HttpMethod, template, body: rule.body, responseBody: rule.responseBody };
}
