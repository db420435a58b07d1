import { create, createFileRegistry, setExtension } from "@bufbuild/protobuf";
import type { DescService } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema, MethodOptionsSchema } from "@bufbuild/protobuf/wkt";
import { Validator } from "@seriousme/openapi-schema-validator";
import { expect } from "chai";
import { file_google_api_annotations, http } from "../../gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../../gen/google/api/http_pb.js";
import { createOpenApiDocument } from "./index.js";

// A contract Meshwork does not have yet, built as a descriptor: a pattern
// path variable, additional bindings, a field body, a response_body and a
// nested query field.
function libraryService(): DescService {
  const options = create(MethodOptionsSchema);
  setExtension(
    options,
    http,
    create(HttpRuleSchema, {
      pattern: { case: "get", value: "/v1/{name=shelves/*/books/*}" },
      additionalBindings: [
        create(HttpRuleSchema, { pattern: { case: "get", value: "/v1/books/{name}:title" }, responseBody: "title" }),
        create(HttpRuleSchema, { pattern: { case: "put", value: "/v1/{name=shelves/*/books/*}" }, body: "filter" }),
      ],
    }),
  );
  const { STRING: string, MESSAGE: message, INT64: int64 } = FieldDescriptorProto_Type;
  const optional = FieldDescriptorProto_Label.OPTIONAL;
  const proto = create(FileDescriptorProtoSchema, {
    name: "test/library.proto",
    package: "test.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto"],
    messageType: [
      { name: "Book", field: [{ name: "name", number: 1, type: string, label: optional, jsonName: "name" }, { name: "title", number: 2, type: string, label: optional, jsonName: "title" }] },
      { name: "Filter", field: [{ name: "min_pages", number: 1, type: int64, label: optional, jsonName: "minPages" }] },
      {
        name: "GetBookRequest",
        field: [
          { name: "name", number: 1, type: string, label: optional, jsonName: "name" },
          { name: "filter", number: 2, type: message, typeName: ".test.v1.Filter", label: optional, jsonName: "filter" },
        ],
      },
    ],
    service: [{ name: "LibraryService", method: [{ name: "GetBook", inputType: ".test.v1.GetBookRequest", outputType: ".test.v1.Book", options }] }],
  });
  const registry = createFileRegistry(proto, (file) => (file === file_google_api_annotations.name + ".proto" ? file_google_api_annotations : undefined));
  const service = registry.getService("test.v1.LibraryService");
  if (service === undefined) throw new Error("LibraryService not built");
  return service;
}

describe("createOpenApiDocument with additional bindings", () => {
  const doc = createOpenApiDocument({ services: [libraryService()], title: "library", version: "v1", security: () => "public" });

  it("is valid", async () => {
    const result = await new Validator().validate(structuredClone(doc) as never);
    expect(result.valid, JSON.stringify(result.errors, null, 2)).to.equal(true);
  });

  it("gives each binding its own operationId", () => {
    expect(doc.paths["/v1/{name}"]?.get?.operationId).to.equal("LibraryService_GetBook");
    expect(doc.paths["/v1/books/{name}:title"]?.get?.operationId).to.equal("LibraryService_GetBook_1");
    expect(doc.paths["/v1/{name}"]?.put?.operationId).to.equal("LibraryService_GetBook_2");
  });

  it("binds a multi-segment variable as one parameter with the template's pattern", () => {
    const name = doc.paths["/v1/{name}"]?.get?.parameters?.find((p) => p.name === "name");
    expect(name?.schema).to.deep.equal({ type: "string", pattern: "^shelves/[^/]+/books/[^/]+$" });
    expect(name?.description).to.contain("shelves/*/books/*");
  });

  it("flattens nested request fields into dotted query parameters", () => {
    const params = doc.paths["/v1/{name}"]?.get?.parameters?.filter((p) => p.in === "query");
    expect(params).to.deep.equal([
      { name: "filter.min_pages", in: "query", schema: { type: "string", format: "int64", pattern: "^-?[0-9]+$" } },
    ]);
  });

  it("honours body and response_body fields", () => {
    const put = doc.paths["/v1/{name}"]?.put;
    expect(put?.requestBody?.content["application/json"]?.schema).to.deep.equal({ $ref: "#/components/schemas/Filter" });
    expect(put?.parameters?.map((p) => p.name)).to.deep.equal(["name"]);
    const title = doc.paths["/v1/books/{name}:title"]?.get?.responses["200"];
    expect(title && "content" in title ? title.content?.["application/json"]?.schema : undefined).to.deep.equal({ type: "string" });
  });
});
