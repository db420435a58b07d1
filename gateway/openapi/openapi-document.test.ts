import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { createOpenApiDocument, protoCommentsFromImage } from "./index.js";
import type { AccessLevel, OpenApiDocument, ProtoComments } from "./index.js";
import type { Parameter, Reference, Response } from "./openapi-types.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** The image a build step makes: local files only, no network. */
function buildComments(): ProtoComments {
  const image = execFileSync("node_modules/.bin/buf", ["build", "proto", "--exclude-imports", "-o", "-"], {
    cwd: repoRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
  return protoCommentsFromImage(new Uint8Array(image));
}

const policy: Record<string, AccessLevel> = {
  "meshwork.inventory.v1.InventoryService/GetItem": "public",
  "meshwork.inventory.v1.InventoryService/ListItems": "public",
  "meshwork.inventory.v1.InventoryService/AdjustStock": "admin",
};
const security = (method: string): AccessLevel => policy[method] ?? "customer";

function buildDocument(comments?: ProtoComments): OpenApiDocument {
  return createOpenApiDocument({
    services: [InventoryService, OrderService],
    title: "Meshwork shop API",
    version: "v1",
    serverUrl: "http://127.0.0.1:8080",
    ...(comments ? { comments } : {}),
    security,
  });
}

async function validate(doc: OpenApiDocument): Promise<void> {
  const result = await new Validator().validate(structuredClone(doc) as never);
  expect(result.valid, JSON.stringify(result.errors, null, 2)).to.equal(true);
}

function param(params: Parameter[] | undefined, name: string): Parameter {
  const found = params?.find((p) => p.name === name);
  expect(found, `parameter ${name}`).to.not.equal(undefined);
  return found!;
}

function isResponse(r: Response | Reference | undefined): r is Response {
  return r !== undefined && !("$ref" in r);
}

describe("createOpenApiDocument", () => {
  let doc: OpenApiDocument;
  before(() => {
    doc = buildDocument(buildComments());
  });

  it("is a valid OpenAPI 3.1 document, with and without comments", async () => {
    expect(doc.openapi).to.equal("3.1.0");
    await validate(doc);
    await validate(buildDocument());
  });

  it("describes exactly the methods with a google.api.http rule", () => {
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(ids).to.have.members([
      "InventoryService_GetItem",
      "InventoryService_ListItems",
      "InventoryService_AdjustStock",
      "OrderService_PlaceOrder",
      "OrderService_GetOrder",
      "OrderService_ListOrders",
      "OrderService_CancelOrder",
    ]);
    expect(doc.tags.map((t) => t.name)).to.deep.equal(["InventoryService", "OrderService"]);
  });

  it("binds the SKU as a path parameter with its protovalidate rules", () => {
    const sku = param(doc.paths["/v1/inventory/items/{sku}"]?.get?.parameters, "sku");
    expect(sku).to.include({ in: "path", required: true });
    expect(sku.schema).to.deep.equal({ type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Z0-9][A-Z0-9-]*$" });
    expect(sku.description).to.equal("The item's SKU: upper-case letters, digits and dashes.");
  });

  it("turns unbound request fields into query parameters", () => {
    const params = doc.paths["/v1/inventory/items"]?.get?.parameters;
    expect(params?.map((p) => p.name)).to.deep.equal(["page_size", "page_token"]);
    expect(param(params, "page_size")).to.deep.include({
      in: "query",
      schema: { type: "integer", format: "int32", minimum: 0, maximum: 100 },
    });
    expect(param(params, "page_size").required).to.equal(undefined);
    expect(param(params, "page_token").schema).to.deep.equal({ type: "string", maxLength: 256 });
  });

  it("takes PlaceOrder's whole request as the body, its rules as constraints", () => {
    const op = doc.paths["/v1/orders"]?.post;
    expect(op?.requestBody).to.deep.equal({
      required: true,
      content: { "application/json": { schema: { $ref: "#/components/schemas/PlaceOrderRequest" } } },
    });
    const request = doc.components.schemas["PlaceOrderRequest"];
    expect(request?.required).to.deep.equal(["requestId", "lines", "cardToken"]);
    expect(request?.properties?.["requestId"]).to.include({ type: "string", minLength: 1, maxLength: 64 });
    expect(request?.properties?.["lines"]).to.deep.include({
      type: "array",
      items: { $ref: "#/components/schemas/PlaceOrderLine" },
      minItems: 1,
      maxItems: 50,
    });
    expect(doc.components.schemas["PlaceOrderLine"]?.properties?.["quantity"]).to.include({
      exclusiveMinimum: 0,
      maximum: 1000,
    });
  });

  it("keeps the custom verb in CancelOrder's path and leaves path fields out of its body", () => {
    const op = doc.paths["/v1/orders/{order_id}:cancel"]?.post;
    expect(op?.operationId).to.equal("OrderService_CancelOrder");
    expect(param(op?.parameters, "order_id")).to.include({ in: "path", required: true });
    expect(op?.requestBody?.content["application/json"]?.schema.properties).to.deep.equal({});
  });

  it("writes 64-bit integers as strings, timestamps as date-times, enums as names", () => {
    const order = doc.components.schemas["Order"];
    expect(order?.properties?.["totalMinor"]).to.include({ type: "string", format: "int64" });
    expect(order?.properties?.["createdAt"]).to.include({ type: "string", format: "date-time" });
    expect(order?.properties?.["state"]).to.include({ $ref: "#/components/schemas/OrderState" });
    expect(doc.components.schemas["OrderState"]?.enum).to.deep.equal([
      "ORDER_STATE_UNSPECIFIED",
      "ORDER_STATE_PENDING",
      "ORDER_STATE_CONFIRMED",
      "ORDER_STATE_CANCELLED",
    ]);
    expect(doc.components.schemas["Item"]?.properties?.["priceMinor"]).to.include({ type: "string" });
  });

  it("takes descriptions from the proto comments", () => {
    expect(doc.paths["/v1/orders/{order_id}"]?.get?.description).to.equal("GetOrder returns one of the customer's orders.");
    expect(doc.components.schemas["Item"]?.description).to.equal("Item is one catalogue entry with its stock.");
    expect(doc.components.schemas["OrderState"]?.description).to.contain("- `ORDER_STATE_PENDING`: The saga is running.");
    expect(doc.tags[0]?.description).to.match(/^InventoryService owns the catalogue/);
    expect(buildDocument().components.schemas["Item"]?.description).to.equal(undefined);
  });

  it("needs no token for public methods and a bearer token for the others", () => {
    expect(doc.components.securitySchemes["bearerAuth"]).to.deep.equal({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    expect(doc.paths["/v1/inventory/items/{sku}"]?.get?.security).to.deep.equal([]);
    expect(doc.paths["/v1/orders"]?.post?.security).to.deep.equal([{ bearerAuth: [] }]);
    expect(doc.paths["/v1/inventory/items/{sku}:adjust"]?.post?.security).to.deep.equal([{ bearerAuth: ["meshwork:admin"] }]);
  });

  it("shares one error response", () => {
    const op = doc.paths["/v1/orders"]?.post;
    expect(op?.responses["default"]).to.deep.equal({ $ref: "#/components/responses/Error" });
    const ok = op?.responses["200"];
    expect(isResponse(ok) && ok.content?.["application/json"]?.schema).to.deep.equal({
      $ref: "#/components/schemas/PlaceOrderResponse",
    });
    expect(doc.components.schemas["Error"]?.required).to.deep.equal(["code", "message", "details"]);
  });
});
