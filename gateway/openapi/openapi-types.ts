// The subset of OpenAPI 3.1 and JSON Schema 2020-12 that the generator
// writes. Typed so that a misspelled keyword fails to compile instead of
// producing a document that validates but says nothing.

export type JsonType = "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";

export interface JsonSchema {
  $ref?: string;
  type?: JsonType;
  format?: string;
  contentEncoding?: string;
  description?: string;
  deprecated?: boolean;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  const?: string | number | boolean;
  enum?: (string | number | boolean | null)[];
  not?: JsonSchema;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  minProperties?: number;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
}

export type HttpMethod = "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace";

export interface Reference {
  $ref: string;
}

export interface Parameter {
  name: string;
  in: "path" | "query";
  description?: string;
  required?: boolean;
  deprecated?: boolean;
  style?: "simple" | "form";
  explode?: boolean;
  schema: JsonSchema;
}

export interface MediaType {
  schema: JsonSchema;
}

export interface RequestBody {
  description?: string;
  required?: boolean;
  content: Record<string, MediaType>;
}

export interface Response {
  description: string;
  content?: Record<string, MediaType>;
}

/** Scheme name -> roles; an empty list means any valid credential. */
export type SecurityRequirement = Record<string, string[]>;

export interface Operation {
  operationId: string;
  tags: string[];
  summary?: string;
  description?: string;
  deprecated?: boolean;
  parameters?: Parameter[];
  requestBody?: RequestBody;
  responses: Record<string, Response | Reference>;
  security: SecurityRequirement[];
}

export type PathItem = Partial<Record<HttpMethod, Operation>>;

export interface SecurityScheme {
  type: "http";
  scheme: string;
  bearerFormat?: string;
  description?: string;
}

export interface Tag {
  name: string;
  description?: string;
}

export interface OpenApiDocument {
  openapi: "3.1.0";
  jsonSchemaDialect: string;
  info: { title: string; version: string; description?: string };
  servers?: { url: string }[];
  tags: Tag[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, Response>;
    securitySchemes: Record<string, SecurityScheme>;
  };
}
