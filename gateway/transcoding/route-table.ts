import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { parseRequestPath, type PathSegments } from "./request-path.js";
import { createRoute, type Route, type RouteSpec } from "./route.js";

/** What a request's method and path select. */
export type RouteMatch =
  | { readonly route: Route; readonly pathParams: Record<string, string> }
  | { readonly error: "not-found" }
  /** The path is bound, but not for this HTTP method; `allowed` is sorted (for an Allow header). */
  | { readonly error: "method-not-allowed"; readonly allowed: readonly string[] };

export interface RouteTable {
  readonly routes: readonly Route[];
  /**
   * Selects the route for an HTTP method and URL path (no query string).
   * Throws InvalidArgument for malformed percent-encoding in the path.
   */
  match(httpMethod: string, path: string): RouteMatch;
}

/**
 * Builds the gateway's routes from the google.api.http options of every
 * method of the services, additional_bindings included. Methods without the
 * option are not exposed.
 *
 * Throws an Error when a binding is invalid (see createRoute) or when two
 * bindings have the same HTTP method and template shape (the same paths, only
 * variable names differing): the error names both methods.
 *
 * Matching walks a tree of template segments, so a request costs one step per
 * path segment, not one test per route. Where templates of different shapes
 * overlap, the more specific wins at each segment: a literal over `*` over
 * `**`. A last segment with a `:` is read as a custom verb first; only when no
 * template (for any HTTP method) has that verb is the `:` part of the segment
 * (`/v1/files/a:b`). So `GET /v1/orders/o-1:cancel` is method-not-allowed
 * (Allow: POST), not GetOrder of "o-1:cancel" as in grpc-gateway, which
 * retries the other reading per HTTP method.
 */
export function buildRouteTable(services: readonly DescService[]): RouteTable {
  const routes = services.flatMap((service) => service.methods.flatMap(routesOf));
  const root = new Node();
  const seen = new Map<string, Route>();
  for (const route of routes) {
    const key = `${route.httpMethod} ${route.template.shape}`;
    const other = seen.get(key);
    if (other !== undefined) {
      throw new Error(
        `conflicting google.api.http bindings for ${key}: ${describe(other)} and ${describe(route)}`,
      );
    }
    seen.set(key, route);
    root.insert(route);
  }
  return {
    routes,
    match(httpMethod, path) {
      const request = parseRequestPath(path);
      if (request === undefined) {
        return { error: "not-found" };
      }
      const verbRoutes = request.withVerb ? root.lookup(request.withVerb.segments, request.withVerb.verb) : [];
      const candidates = verbRoutes.length > 0 ? verbRoutes : root.lookup(request.whole, "");
      const route = candidates.find((r) => r.httpMethod === httpMethod);
      if (route !== undefined) {
        return { route, pathParams: route.template.matchRequest(request) ?? {} };
      }
      if (candidates.length === 0) {
        return { error: "not-found" };
      }
      return { error: "method-not-allowed", allowed: [...new Set(candidates.map((r) => r.httpMethod))].sort() };
    },
  };
}

function routesOf(method: DescMethod): Route[] {
  if (!hasOption(method, http)) {
    return [];
  }
  const rule = getOption(method, http);
  for (const extra of rule.additionalBindings) {
    if (extra.additionalBindings.length > 0) {
      throw new Error(`${method.parent.typeName}.${method.name}: an additional binding cannot have additional_bindings`);
    }
  }
  return [rule, ...rule.additionalBindings].map((r) => createRoute(method, specOf(method, r)));
}

function specOf(method: DescMethod, rule: HttpRule): RouteSpec {
  const { body, responseBody } = rule;
  switch (rule.pattern.case) {
    case "get":
    case "put":
    case "post":
    case "delete":
    case "patch":
      return { httpMethod: rule.pattern.case.toUpperCase(), path: rule.pattern.value, body, responseBody };
    case "custom":
      if (rule.pattern.value.kind === "") {
        break;
      }
      return { httpMethod: rule.pattern.value.kind, path: rule.pattern.value.path, body, responseBody };
  }
  throw new Error(`${method.parent.typeName}.${method.name}: a google.api.http binding has no HTTP method`);
}

function describe(route: Route): string {
  return `${route.method.parent.typeName}.${route.method.name} (${route.httpMethod} ${route.template.source})`;
}

/** A node of the segment tree: the routes whose templates end here, by verb. */
class Node {
  private readonly literals = new Map<string, Node>();
  private wildcard: Node | undefined;
  /** Routes whose template ends in `**` at this node, by verb. */
  private readonly rest = new Map<string, Route[]>();
  private readonly ends = new Map<string, Route[]>();

  insert(route: Route): void {
    const verb = route.template.verb ?? "";
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the walk down the trie starts at this node
    let node: Node = this;
    for (const segment of route.template.segments) {
      if (segment.kind === "rest") {
        add(node.rest, verb, route);
        return;
      }
      if (segment.kind === "wildcard") {
        node = node.wildcard ??= new Node();
      } else {
        let next = node.literals.get(segment.value);
        if (next === undefined) {
          next = new Node();
          node.literals.set(segment.value, next);
        }
        node = next;
      }
    }
    add(node.ends, verb, route);
  }

  /** Routes whose templates match the segments and verb, most specific first. */
  lookup(path: PathSegments, verb: string, at = 0, found: Route[] = []): Route[] {
    if (at === path.raw.length) {
      found.push(...(this.ends.get(verb) ?? []));
    } else {
      this.literals.get(path.decoded[at]!)?.lookup(path, verb, at + 1, found);
      if (path.raw[at] !== "") {
        this.wildcard?.lookup(path, verb, at + 1, found);
      }
    }
    found.push(...(this.rest.get(verb) ?? []));
    return found;
  }
}

function add(map: Map<string, Route[]>, verb: string, route: Route): void {
  const list = map.get(verb);
  if (list === undefined) {
    map.set(verb, [route]);
  } else {
    list.push(route);
  }
}
