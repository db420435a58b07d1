import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import fc from "fast-check";
import { http } from "../../gen/google/api/annotations_pb.js";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { InventoryService as InventoryServiceV2 } from "../../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import { NotificationService } from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { messageJson, stringValue } from "./message-arbitrary.js";
import { applyFraming, framing, framingWithOversized, jsonBody, protobufBody } from "./mutate.js";

/**
 * One generated request, as plain data (so fast-check prints it and a
 * failing one can be pasted into regressions.ts): where it goes, its
 * headers, and its body in base64.
 */
export type FuzzRequest =
  /** REST/JSON to the gateway over HTTP/1.1. */
  | { readonly kind: "rest"; readonly method: string; readonly path: string; readonly headers: Record<string, string>; readonly body: string }
  /** Connect JSON or binary, or gRPC-Web, to the gateway's passthrough over HTTP/1.1; gRPC to it over cleartext HTTP/2. */
  | { readonly kind: "connect" | "grpc-web" | "grpc-gateway"; readonly path: string; readonly headers: Record<string, string>; readonly body: string }
  /** gRPC straight to a service, over mTLS as `identity`. */
  | { readonly kind: "grpc"; readonly target: ServiceTarget; readonly identity: string; readonly path: string; readonly headers: Record<string, string>; readonly body: string };

export type ServiceTarget = "inventory" | "payments" | "orders" | "notifications";

/** What the gateway fronts (gateway/gateway.yaml). */
export const frontedServices: readonly DescService[] = [InventoryService, InventoryServiceV2, OrderService, NotificationService];

/**
 * What each service process serves that a fuzzer may call: their domain
 * services. FaultService, RoutingService and the event log's operator
 * methods are left out on purpose: a valid generated request there would
 * arm a fault or change routes for the rest of the run.
 */
export const servedServices: Readonly<Record<ServiceTarget, readonly DescService[]>> = {
  inventory: [InventoryService, InventoryServiceV2],
  payments: [PaymentService],
  orders: [OrderService],
  notifications: [NotificationService],
};

const unary = (service: DescService): DescMethod[] => service.methods.filter((m) => m.methodKind === "unary");

/** Every unary method by its gRPC path. */
export const methodsByPath = new Map<string, DescMethod>(
  [...frontedServices, PaymentService].flatMap((s) => unary(s).map((m) => [`/${s.typeName}/${m.name}`, m] as const)),
);

export type Token = "none" | "alice" | "bob" | "admin" | "garbage" | "expired-looking";
const tokenChoice = fc.constantFrom<Token>("none", "alice", "alice", "alice", "bob", "admin", "garbage", "expired-looking");

/** Authorization header value for a token choice, filled in by the suite (it signs the real tokens). */
export const tokenPlaceholder = (token: Token): string => `<token:${token}>`;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

/** Characters node:http refuses on a request line, percent-encoded. */
function sendablePath(p: string): string {
  return p.replace(/[^\u0021-\u007e]/gu, (c) => encodeURIComponent(c));
}

interface RestRoute {
  readonly method: DescMethod;
  readonly httpMethod: string;
  readonly template: string;
  readonly body: string;
}

function restRoutes(): RestRoute[] {
  return frontedServices.flatMap((service) =>
    service.methods.flatMap((method): RestRoute[] => {
      if (!hasOption(method, http)) {
        return [];
      }
      const rule = getOption(method, http);
      const pattern = rule.pattern;
      if (pattern.case === undefined || pattern.case === "custom") {
        return [];
      }
      return [{ method, httpMethod: pattern.case.toUpperCase(), template: pattern.value, body: rule.body }];
    }),
  );
}

const pathValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: stringValue.map((s) => encodeURIComponent(s)), weight: 4 },
  { arbitrary: stringValue.map((s) => sendablePath(s)), weight: 1 },
  { arbitrary: fc.constantFrom("%", "%ZZ", "%00", "%C0%AF", "%FF", "..", "%2e%2e", "a%2Fb", ""), weight: 1 },
);

type PathMutation = "none" | "trailing-slash" | "double-slash" | "upper" | "verb" | "extra-segment" | "garbage";
const pathMutation = fc.oneof(
  { arbitrary: fc.constant<PathMutation>("none"), weight: 8 },
  { arbitrary: fc.constantFrom<PathMutation>("trailing-slash", "double-slash", "upper", "verb", "extra-segment", "garbage"), weight: 2 },
);

function mutatePath(p: string, m: PathMutation, garbage: string): string {
  switch (m) {
    case "none":
      return p;
    case "trailing-slash":
      return `${p}/`;
    case "double-slash":
      return p.replace("/", "//");
    case "upper":
      return p.toUpperCase();
    case "verb":
      return `${p}:${garbage.replace(/[/?#]/g, "") || "frob"}`;
    case "extra-segment":
      return `${p}/${garbage}`;
    case "garbage":
      return `/${garbage}`;
  }
}

function queryFor(route: RestRoute): fc.Arbitrary<string> {
  const bound = new Set([...route.template.matchAll(/\{([^}=]+)/g)].map((m) => m[1]!));
  const names = route.method.input.fields.filter((f) => !bound.has(f.name)).flatMap((f) => [f.name, f.jsonName]);
  const param = fc.tuple(
    fc.oneof({ arbitrary: fc.constantFrom(...(names.length > 0 ? names : ["q"])), weight: 5 }, { arbitrary: fc.constantFrom("foo", "%ZZ", "page_size[]", "a.b", ""), weight: 1 }),
    fc.oneof(pathValue, fc.integer({ min: -5, max: 2000 }).map(String), fc.constantFrom("9223372036854775808", "1e400", "NaN", "-1", "true")),
  );
  return fc.array(param, { maxLength: 4 }).map((ps) => (ps.length === 0 ? "" : `?${ps.map(([k, v]) => `${k}=${v}`).join("&")}`));
}

const timeoutHeader = fc.oneof(
  { arbitrary: fc.constant<string | undefined>(undefined), weight: 8 },
  // Invalid ones, and valid ones long enough that a DeadlineExceeded is never the client's choice.
  { arbitrary: fc.constantFrom("abc", "-1", "99999999999", "", "1.5.3", "ms", "15000", "60000"), weight: 2 },
);

const restContentType = fc.oneof(
  { arbitrary: fc.constant("application/json"), weight: 8 },
  { arbitrary: fc.constantFrom("", "text/plain", "application/json; charset=latin1", "application/proto", "application/grpc", "multipart/form-data"), weight: 1 },
);

/** REST requests: the gateway's routes from the contracts' HttpRules, with generated path values, query strings and bodies, mutated. */
export function restRequest(): fc.Arbitrary<FuzzRequest> {
  const perRoute = restRoutes().map((route) =>
    fc
      .record({
        values: fc.array(pathValue, { minLength: 4, maxLength: 4 }),
        query: route.body === "" ? queryFor(route) : fc.constant(""),
        body: route.body === "" ? fc.option(jsonBody(messageJson(route.method.input)), { freq: 8, nil: undefined }) : jsonBody(messageJson(route.method.input)),
        httpMethod: fc.oneof({ arbitrary: fc.constant(route.httpMethod), weight: 12 }, { arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"), weight: 1 }),
        mutation: pathMutation,
        garbage: pathValue,
        token: tokenChoice,
        contentType: restContentType,
        timeout: timeoutHeader,
      })
      .map(({ values, query, body, httpMethod, mutation, garbage, token, contentType, timeout }): FuzzRequest => {
        let i = 0;
        const filled = route.template.replace(/\{[^}]+\}/g, () => values[i++ % values.length]!);
        const headers: Record<string, string> = {};
        if (token !== "none") headers["authorization"] = tokenPlaceholder(token);
        if (body !== undefined && contentType !== "") headers["content-type"] = contentType;
        if (timeout !== undefined) headers["x-request-timeout-ms"] = timeout;
        return { kind: "rest", method: httpMethod, path: sendablePath(mutatePath(filled, mutation, garbage) + query), headers, body: body === undefined ? "" : b64(body) };
      }),
  );
  return fc.oneof(...perRoute);
}

const grpcTimeout = fc.oneof(
  { arbitrary: fc.constant<string | undefined>(undefined), weight: 8 },
  { arbitrary: fc.constantFrom("soon", "", "1", "1X", "-1S", "123456789S", "25H", "99999999H", "1.5S", "S", "20S", "100000m"), weight: 2 },
);

const grpcEncoding = fc.oneof(
  { arbitrary: fc.constant<string | undefined>(undefined), weight: 6 },
  { arbitrary: fc.constantFrom("gzip", "identity", "deflate", "br", "snappy", ""), weight: 2 },
);

function methodPath(services: readonly DescService[]): fc.Arbitrary<{ path: string; method: DescMethod | undefined }> {
  const known = services.flatMap((s) => unary(s).map((m) => ({ path: `/${s.typeName}/${m.name}`, method: m as DescMethod | undefined })));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...known), weight: 12 },
    { arbitrary: fc.constantFrom(...services).map((s) => ({ path: `/${s.typeName}/NoSuchMethod`, method: undefined })), weight: 1 },
  );
}

/** A body for `method` (or for a made-up method, some bytes). */
function bodyOf(method: DescMethod | undefined, json: boolean): fc.Arbitrary<Buffer> {
  if (method === undefined) {
    return fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b));
  }
  return json ? jsonBody(messageJson(method.input)) : protobufBody(method.input, messageJson(method.input));
}

/** Connect JSON and binary, gRPC-Web (HTTP/1.1) and gRPC (cleartext HTTP/2) through the gateway's passthrough. */
export function passthroughRequest(): fc.Arbitrary<FuzzRequest> {
  return fc
    .tuple(methodPath(frontedServices), fc.constantFrom("connect-json", "connect-proto", "grpc-web", "grpc-gateway"), tokenChoice, grpcTimeout, grpcEncoding, framing, fc.boolean())
    .chain(([{ path, method }, protocol, token, timeout, encoding, frameAs, versionHeader]) =>
      bodyOf(method, protocol === "connect-json").map((message): FuzzRequest => {
        const headers: Record<string, string> = {};
        if (token !== "none") headers["authorization"] = tokenPlaceholder(token);
        if (protocol === "connect-json" || protocol === "connect-proto") {
          headers["content-type"] = protocol === "connect-json" ? "application/json" : "application/proto";
          if (versionHeader) headers["connect-protocol-version"] = "1";
          if (timeout !== undefined) headers["connect-timeout-ms"] = /^\d+$/.test(timeout) ? "20000" : timeout;
          if (encoding !== undefined) headers["content-encoding"] = encoding;
          return { kind: "connect", path, headers, body: b64(message) };
        }
        headers["content-type"] = protocol === "grpc-web" ? "application/grpc-web+proto" : "application/grpc";
        if (protocol === "grpc-gateway") headers["te"] = "trailers";
        if (timeout !== undefined) headers["grpc-timeout"] = timeout;
        if (encoding !== undefined) headers["grpc-encoding"] = encoding;
        return { kind: protocol === "grpc-web" ? "grpc-web" : "grpc-gateway", path, headers, body: b64(applyFraming(message, frameAs)) };
      }),
    );
}

const contentTypes = fc.oneof(
  { arbitrary: fc.constant("application/grpc"), weight: 10 },
  { arbitrary: fc.constantFrom("application/grpc+proto", "application/grpc+json", "application/grpc+unknown", "application/json", "text/plain"), weight: 1 },
);

/** gRPC frames straight to a service: truncated, oversized, bad compression flags, malformed varints, invalid UTF-8, bad grpc-timeout. */
export function rawGrpcRequest(): fc.Arbitrary<FuzzRequest> {
  const targets = Object.keys(servedServices) as ServiceTarget[];
  return fc
    .constantFrom(...targets)
    .chain((target) =>
      fc.tuple(
        fc.constant(target),
        methodPath(servedServices[target]),
        fc.constantFrom("allowed", "allowed", "allowed", "allowed", "notifications"),
        contentTypes,
        grpcTimeout,
        grpcEncoding,
        framingWithOversized,
        fc.option(stringValue, { freq: 2, nil: undefined }),
        fc.boolean(),
      ),
    )
    .chain(([target, { path, method }, identity, contentType, timeout, encoding, frameAs, customer, te]) =>
      bodyOf(method, false).map((message): FuzzRequest => {
        const headers: Record<string, string> = { "content-type": contentType };
        if (te) headers["te"] = "trailers";
        if (timeout !== undefined) headers["grpc-timeout"] = timeout;
        if (encoding !== undefined) headers["grpc-encoding"] = encoding;
        if (customer !== undefined) headers["x-customer-id"] = customer;
        return { kind: "grpc", target, identity, path, headers, body: b64(applyFraming(message, frameAs)) };
      }),
    );
}
