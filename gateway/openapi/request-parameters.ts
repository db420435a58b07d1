import type { DescField, DescMessage } from "@bufbuild/protobuf";
import type { ComponentSchemas } from "./component-schemas.js";
import type { JsonSchema, Parameter } from "./openapi-types.js";
import type { PathVariable } from "./path-template.js";
import { isScalarLikeMessage } from "./proto-json-schema.js";
import { fieldRulesOf, isRequiredByRules } from "./validate-rules.js";

// Parameter names are proto field paths (`page_size`, `filter.state`), the
// names google.api.http path templates already use, so one request's path and
// query parameters read alike.

/** The path parameter of one template variable. */
export function pathParameter(request: DescMessage, variable: PathVariable, schemas: ComponentSchemas): Parameter {
  const field = fieldAt(request, variable.fieldPath);
  if (field.fieldKind !== "scalar" && field.fieldKind !== "enum") {
    throw new Error(`${request.typeName}: path variable {${variable.fieldPath}} binds a ${field.fieldKind} field`);
  }
  let schema = schemas.valueSchema(field, { inlineEnums: true });
  let description = schemas.describe(field);
  if (variable.pattern !== undefined) {
    schema = schema.pattern === undefined ? { ...schema, pattern: variable.pattern } : { allOf: [schema, { pattern: variable.pattern }] };
    const note = `The value is the whole path text matching \`${variable.segments}\`, slashes included.`;
    description = description === undefined ? note : `${description} ${note}`;
  }
  return { name: variable.fieldPath, in: "path", required: true, ...(description ? { description } : {}), schema };
}

/**
 * Query parameters for the request fields neither the path nor the body
 * binds: scalars, enums, repeated scalars and enums, and single-value
 * well-known types, with message fields flattened to dotted names. Maps,
 * repeated messages and recursive messages cannot be query parameters.
 */
export function queryParameters(request: DescMessage, bound: ReadonlySet<string>, schemas: ComponentSchemas): Parameter[] {
  const parameters: Parameter[] = [];
  const visit = (message: DescMessage, prefix: string, seen: ReadonlySet<string>) => {
    for (const field of message.fields) {
      const name = prefix + field.name;
      if (bound.has(name)) {
        continue;
      }
      const param = (schema: JsonSchema, extra: Partial<Parameter> = {}) => {
        const description = schemas.describe(field);
        // Only a top-level field is required: a nested one is needed only
        // when its parent is sent.
        const required = prefix === "" && isRequiredByRules(field, fieldRulesOf(field));
        parameters.push({
          name,
          in: "query",
          ...(description ? { description } : {}),
          ...(required ? { required } : {}),
          ...(field.deprecated ? { deprecated: true } : {}),
          ...extra,
          schema,
        });
      };
      switch (field.fieldKind) {
        case "scalar":
        case "enum":
          param(schemas.valueSchema(field, { inlineEnums: true }));
          break;
        case "list":
          if (field.listKind !== "message" || isScalarLikeMessage(field.message)) {
            param(schemas.valueSchema(field, { inlineEnums: true }), { style: "form", explode: true });
          }
          break;
        case "message":
          if (isScalarLikeMessage(field.message)) {
            param(schemas.valueSchema(field));
          } else if (!seen.has(field.message.typeName)) {
            visit(field.message, `${name}.`, new Set([...seen, field.message.typeName]));
          }
          break;
        case "map":
          break;
      }
    }
  };
  visit(request, "", new Set([request.typeName]));
  return parameters;
}

/** The field at a dotted proto path, e.g. `book.name`. */
export function fieldAt(message: DescMessage, path: string): DescField {
  const [head, ...rest] = path.split(".");
  const field = message.fields.find((f) => f.name === head);
  if (field === undefined) {
    throw new Error(`${message.typeName} has no field "${head}" (in "${path}")`);
  }
  if (rest.length === 0) {
    return field;
  }
  if (field.fieldKind !== "message") {
    throw new Error(`${message.typeName}.${field.name} is not a message (in "${path}")`);
  }
  return fieldAt(field.message, rest.join("."));
}
