import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { adminScope } from "../auth/index.js";
import { ComponentSchemas } from "./component-schemas.js";
import { errorResponse, errorResponseName, errorSchema, errorSchemaName } from "./error-schema.js";
import { httpBindingsOf } from "./http-bindings.js";
import type { HttpBinding } from "./http-bindings.js";
import type { JsonSchema, OpenApiDocument, Operation, Parameter, PathItem, RequestBody, SecurityRequirement } from "./openapi-types.js";
import { parsePathTemplate } from "./path-template.js";
import type { ProtoComments } from "./proto-comments.js";
import { fieldAt, pathParameter, queryParameters } from "./request-parameters.js";
import { fieldRulesOf, isRequiredByRules } from "./validate-rules.js";

/** Who may call a method (the gateway's access policy levels). */
export type AccessLevel = "public" | "customer" | "admin";

export interface OpenApiDocumentOptions {
  /** The services to describe. Only methods with a google.api.http rule have routes. */
  readonly services: readonly DescService[];
  readonly title: string;
  readonly version: string;
  /** The gateway's base URL. Default: none, so clients resolve paths against where they fetched the document. */
  readonly serverUrl?: string;
  /**
   * Descriptions by proto name, from a Buf image (see proto-comments.ts).
   * Default: none; the document is complete but undescribed.
   */
  readonly comments?: ProtoComments;
  /** The access level of a method, by full name: "meshwork.orders.v1.OrderService/PlaceOrder". */
  readonly security: (methodFullName: string) => AccessLevel;
}

const bearerAuth = "bearerAuth";

/**
 * Public operations say `security: []` (no token needed); the others need a
 * bearer JWT, and admin ones list the scope the token must carry (OpenAPI
 * 3.1 allows roles on non-OAuth schemes).
 */
const requirements: Record<AccessLevel, SecurityRequirement[]> = {
  public: [],
  customer: [{ [bearerAuth]: [] }],
  admin: [{ [bearerAuth]: [adminScope] }],
};

/**
 * An OpenAPI 3.1 document of the HTTP/JSON routes that the services'
 * google.api.http rules declare (additional bindings included), in the
 * proto3 JSON mapping, with protovalidate rules as JSON Schema keywords.
 * Throws when a rule cannot be described: an unknown field in a path
 * template, a verb OpenAPI lacks, or two rules on one route.
 */
export function createOpenApiDocument(options: OpenApiDocumentOptions): OpenApiDocument {
  const bound = options.services.map((service) => ({
    service,
    methods: service.methods
      .map((method) => ({ method, bindings: httpBindingsOf(method) }))
      .filter(({ bindings }) => bindings.length > 0),
  }));
  const schemas = new ComponentSchemas(
    bound.flatMap(({ methods }) => methods.flatMap(({ method }) => [method.input, method.output])),
    options.comments ?? new Map(),
    [errorSchemaName],
  );
  const labels = serviceLabels(bound.map(({ service }) => service));
  const paths: Record<string, PathItem> = {};
  const operationIds = new Set<string>();
  for (const { service, methods } of bound) {
    for (const { method, bindings } of methods) {
      const access = options.security(`${service.typeName}/${method.name}`);
      for (const binding of bindings) {
        const label = labels.get(service)!;
        const operationId = uniqueId(`${label.id}_${method.name}`, operationIds);
        const { path, operation } = describeOperation(method, binding, operationId, requirements[access], schemas, label.tag);
        const item = (paths[path] ??= {});
        if (item[binding.method] !== undefined) {
          throw new Error(`${binding.method.toUpperCase()} ${path} is bound twice (again by ${method.parent.typeName}.${method.name})`);
        }
        item[binding.method] = operation;
      }
    }
  }
  return {
    openapi: "3.1.0",
    // The OAS 3.1 base dialect: JSON Schema 2020-12 plus the OpenAPI vocabulary.
    jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
    info: { title: options.title, version: options.version },
    ...(options.serverUrl !== undefined ? { servers: [{ url: options.serverUrl }] } : {}),
    tags: bound
      .filter(({ methods }) => methods.length > 0)
      .map(({ service }) => ({ name: labels.get(service)!.tag, ...optional("description", schemas.describe(service)) })),
    paths,
    components: {
      schemas: { ...schemas.toRecord(), [errorSchemaName]: errorSchema },
      responses: { [errorResponseName]: errorResponse },
      securitySchemes: {
        [bearerAuth]: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
      },
    },
  };
}

/**
 * Tags and operationId prefixes per service: its short name, except that when
 * several versions of a service are served (v1 beside v2alpha1), the first by
 * package keeps the short name and the others carry their version, so adding
 * a version never renames the operations of one already published.
 */
function serviceLabels(services: readonly DescService[]): Map<DescService, { tag: string; id: string }> {
  const labels = new Map<DescService, { tag: string; id: string }>();
  const byName = new Map<string, DescService[]>();
  for (const service of services) {
    byName.set(service.name, [...(byName.get(service.name) ?? []), service]);
  }
  for (const [name, group] of byName) {
    const sorted = [...group].sort((a, b) => a.typeName.localeCompare(b.typeName));
    sorted.forEach((service, i) => {
      const version = service.file.proto.package.split(".").at(-1) ?? "";
      labels.set(service, i === 0 ? { tag: name, id: name } : { tag: `${name} (${version})`, id: `${name}_${version}` });
    });
  }
  return labels;
}

function describeOperation(
  method: DescMethod,
  binding: HttpBinding,
  operationId: string,
  security: SecurityRequirement[],
  schemas: ComponentSchemas,
  tag: string,
): { path: string; operation: Operation } {
  const template = parsePathTemplate(binding.template);
  const request = method.input;
  const parameters: Parameter[] = template.variables.map((v) => pathParameter(request, v, schemas));
  const pathBound = new Set(template.variables.map((v) => v.fieldPath));
  let requestBody: RequestBody | undefined;
  if (binding.body === "*") {
    // The body is every field the path does not bind. A nested path variable
    // ({book.name}) leaves its top-level field in the body.
    const omit = new Set([...pathBound].filter((p) => !p.includes(".")));
    const schema = omit.size === 0 ? schemas.messageSchema(request) : schemas.objectSchema(request, omit);
    requestBody = jsonBody(schema, schemas.requiredFields(request, omit).length > 0);
  } else {
    if (binding.body !== "") {
      const field = fieldAt(request, binding.body);
      requestBody = {
        ...optional("description", schemas.describe(field)),
        ...jsonBody(schemas.valueSchema(field), isRequiredByRules(field, fieldRulesOf(field))),
      };
    }
    parameters.push(...queryParameters(request, new Set([...pathBound, binding.body]), schemas));
  }
  const responseField = binding.responseBody === "" ? undefined : fieldAt(method.output, binding.responseBody);
  const operation: Operation = {
    operationId,
    tags: [tag],
    ...optional("description", schemas.describe(method)),
    ...(method.deprecated ? { deprecated: true } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(requestBody !== undefined ? { requestBody } : {}),
    responses: {
      "200": {
        description: (responseField ? schemas.describe(responseField) : schemas.describe(method.output)) ?? "OK",
        content: {
          "application/json": {
            schema: responseField ? schemas.valueSchema(responseField) : schemas.messageSchema(method.output),
          },
        },
      },
      default: { $ref: `#/components/responses/${errorResponseName}` },
    },
    security,
  };
  return { path: template.path, operation };
}

function jsonBody(schema: JsonSchema, required: boolean): RequestBody {
  return { ...(required ? { required } : {}), content: { "application/json": { schema } } };
}

/** `base`, then `base_1`, `base_2`, ... for additional bindings of one method. */
function uniqueId(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 1; taken.has(id); n++) {
    id = `${base}_${n}`;
  }
  taken.add(id);
  return id;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined || value === "" ? {} : { [key]: value }) as { [P in K]?: string };
}
