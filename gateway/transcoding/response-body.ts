import { create, toJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import type { Route } from "./route.js";

/**
 * The HTTP response body for an RPC's response: proto3 JSON with JSON
 * (lowerCamel) field names, omitting fields that hold their default value —
 * the canonical proto3 JSON form and Envoy's transcoder default. (grpc-gateway
 * v2's default marshaler emits unpopulated fields instead; clients of this
 * gateway must treat a missing field as its default.)
 *
 * With the rule's response_body, only that field is sent, always present:
 * an unset message as `{}`, an empty list as `[]`, a default scalar as its
 * JSON default.
 */
export function renderResponse(route: Route, message: Message): string {
  const schema = route.method.output;
  const json = toJson(schema, message) as Record<string, JsonValue>;
  const field = route.responseField;
  if (field === undefined) {
    return JSON.stringify(json);
  }
  let value = json[field.jsonName];
  if (value === undefined) {
    value =
      field.fieldKind === "message"
        ? toJson(field.message, create(field.message))
        : (toJson(schema, message, { alwaysEmitImplicit: true }) as Record<string, JsonValue>)[field.jsonName];
  }
  return JSON.stringify(value ?? null);
}
