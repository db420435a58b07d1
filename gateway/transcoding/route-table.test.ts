import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { LibraryService } from "../../test/gen/meshwork/library/v1/library_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { buildRouteTable } from "./route-table.js";
import { syntheticService } from "./synthetic-services.fixture.js";

describe("buildRouteTable", () => {
  const table = buildRouteTable([InventoryService, OrderService, PaymentService, LibraryService]);

  const found: [httpMethod: string, path: string, rpc: string, params: Record<string, string>][] = [
    // The shop's contracts.
    ["GET", "/v1/inventory/items/MUG-001", "InventoryService.GetItem", { sku: "MUG-001" }],
    ["GET", "/v1/inventory/items", "InventoryService.ListItems", {}],
    ["POST", "/v1/inventory/items/MUG-001:adjust", "InventoryService.AdjustStock", { sku: "MUG-001" }],
    ["POST", "/v1/orders", "OrderService.PlaceOrder", {}],
    ["GET", "/v1/orders", "OrderService.ListOrders", {}],
    ["GET", "/v1/orders/ord-1", "OrderService.GetOrder", { order_id: "ord-1" }],
    ["GET", "/v1/orders/ord-1:refund", "OrderService.GetOrder", { order_id: "ord-1:refund" }],
    ["POST", "/v1/orders/ord-1:cancel", "OrderService.CancelOrder", { order_id: "ord-1" }],
    // The library fixture: every template feature.
    ["GET", "/v1/shelves/s1/books/b1", "LibraryService.GetBook", { name: "shelves/s1/books/b1" }],
    ["HEAD", "/v1/shelves/s1/books/b1", "LibraryService.GetBook", { name: "shelves/s1/books/b1" }],
    ["GET", "/v1/shelves/s1/books", "LibraryService.ListBooks", { shelf: "s1" }],
    ["GET", "/v1/genres/GENRE_POETRY/books", "LibraryService.ListBooks", { genre: "GENRE_POETRY" }],
    ["POST", "/v1/shelves/s1/books", "LibraryService.CreateBook", { shelf: "s1" }],
    ["PATCH", "/v1/shelves/s1/books/b1", "LibraryService.UpdateBook", { "book.name": "shelves/s1/books/b1" }],
    ["PUT", "/v1/shelves/s1/books/b1", "LibraryService.UpdateBook", { "book.name": "shelves/s1/books/b1" }],
    ["DELETE", "/v1/shelves/s1/books/b1", "LibraryService.DeleteBook", { name: "shelves/s1/books/b1" }],
    ["POST", "/v1/shelves/s1/books/b1:archive", "LibraryService.ArchiveBook", { name: "shelves/s1/books/b1" }],
    ["GET", "/v1/isbn/9780441013593:lookup", "LibraryService.LookupBook", { isbn: "9780441013593" }],
    ["GET", "/v1/files/covers/2024/dune.png", "LibraryService.GetFile", { path: "covers/2024/dune.png" }],
    ["GET", "/v1/files/a:b", "LibraryService.GetFile", { path: "a:b" }],
    ["GET", "/v1/files/a%2Fb/c%20d", "LibraryService.GetFile", { path: "a%2Fb/c d" }],
    ["GET", "/v1/shelves/s%2F1/books", "LibraryService.ListBooks", { shelf: "s/1" }],
  ];
  for (const [httpMethod, path, rpc, params] of found) {
    it(`routes ${httpMethod} ${path} to ${rpc}`, () => {
      const match = table.match(httpMethod, path);
      if ("error" in match) {
        expect.fail(`no route: ${match.error}`);
      }
      expect(`${match.route.method.parent.name}.${match.route.method.name}`).to.equal(rpc);
      expect(match.pathParams).to.deep.equal(params);
    });
  }

  const notFound: [string, string][] = [
    ["GET", "/v1/inventory/items/MUG-001/extra"],
    ["GET", "/v1/inventory/items/"],
    ["GET", "/v2/orders"],
    ["GET", "/"],
    ["GET", "*"],
  ];
  for (const [httpMethod, path] of notFound) {
    it(`answers not-found for ${httpMethod} ${path}`, () => {
      expect(table.match(httpMethod, path)).to.deep.equal({ error: "not-found" });
    });
  }

  const notAllowed: [string, string, string[]][] = [
    ["DELETE", "/v1/orders", ["GET", "POST"]],
    ["GET", "/v1/orders/ord-1:cancel", ["POST"]],
    ["POST", "/v1/shelves/s1/books/b1", ["DELETE", "GET", "HEAD", "PATCH", "PUT"]],
    ["PUT", "/v1/files/a/b", ["GET"]],
    ["GET", "/v1/shelves/s1/books/b1:archive", ["POST"]],
    ["get", "/v1/orders", ["GET", "POST"]],
  ];
  for (const [httpMethod, path, allowed] of notAllowed) {
    it(`answers method-not-allowed for ${httpMethod} ${path}, allowing ${allowed.join(", ")}`, () => {
      expect(table.match(httpMethod, path)).to.deep.equal({ error: "method-not-allowed", allowed });
    });
  }

  it("throws InvalidArgument for malformed percent-encoding in the path", () => {
    const err = catchError(() => table.match("GET", "/v1/inventory/items/%E0%A4"));
    expect(err).to.be.instanceOf(ConnectError);
    expect((err as ConnectError).code).to.equal(Code.InvalidArgument);
  });

  it("reads body and response_body from the rules", () => {
    const route = (m: string, p: string) => {
      const match = table.match(m, p);
      if ("error" in match) throw new Error(match.error);
      return match.route;
    };
    expect(route("POST", "/v1/orders").body).to.deep.equal({ kind: "whole" });
    expect(route("GET", "/v1/orders").body).to.deep.equal({ kind: "none" });
    const create = route("POST", "/v1/shelves/s1/books").body;
    expect(create.kind === "field" && create.field.name).to.equal("book");
    expect(route("GET", "/v1/isbn/1:lookup").responseField?.name).to.equal("book");
    expect(route("GET", "/v1/orders").responseField).to.equal(undefined);
  });

  it("exposes no route for methods without google.api.http", () => {
    expect(table.routes.some((r) => r.method.parent.name === "PaymentService")).to.equal(false);
    expect(table.routes.some((r) => r.method.name === "ReserveStock")).to.equal(false);
    expect(table.routes).to.have.length(7 + 11);
  });

  it("prefers a literal segment over a variable where shapes overlap", () => {
    const service = syntheticService([
      { name: "ByName", rule: { pattern: { case: "get", value: "/v1/things/{name}" } } },
      { name: "Special", rule: { pattern: { case: "get", value: "/v1/things/special" } } },
      { name: "Anything", rule: { pattern: { case: "get", value: "/v1/{name=**}" } } },
    ]);
    const t = buildRouteTable([service]);
    const rpc = (path: string) => {
      const m = t.match("GET", path);
      return "error" in m ? m.error : m.route.method.name;
    };
    expect(rpc("/v1/things/special")).to.equal("Special");
    expect(rpc("/v1/things/other")).to.equal("ByName");
    expect(rpc("/v1/things/other/deeper")).to.equal("Anything");
    expect(rpc("/v1")).to.equal("Anything");
  });

  describe("refuses contracts it cannot serve", () => {
    const conflicts: [string, string, string][] = [
      ["/v1/things/{name}", "/v1/things/{inner.id}", "GET /v1/things/*"],
      ["/v1/{name=things/*}", "/v1/things/{inner.id}", "GET /v1/things/*"],
      ["/v1/{name=**}", "/v1/{inner.id=**}", "GET /v1/**"],
      ["/v1/things/{name}:go", "/v1/things/{inner.id}:go", "GET /v1/things/*:go"],
    ];
    for (const [first, second, shape] of conflicts) {
      it(`throws for ${first} and ${second}, naming both methods`, () => {
        const service = syntheticService([
          { name: "First", rule: { pattern: { case: "get", value: first } } },
          { name: "Second", rule: { pattern: { case: "get", value: second } } },
        ]);
        expect(() => buildRouteTable([service])).to.throw(
          Error,
          `conflicting google.api.http bindings for ${shape}: test.transcoding.v1.ProbeService.First (GET ${first}) and test.transcoding.v1.ProbeService.Second (GET ${second})`,
        );
      });
    }

    it("throws for a conflict between an additional binding and another method", () => {
      const service = syntheticService([
        {
          name: "First",
          rule: {
            pattern: { case: "get", value: "/v1/a" },
            additionalBindings: [{ pattern: { case: "post", value: "/v1/b" }, body: "*" }],
          },
        },
        { name: "Second", rule: { pattern: { case: "post", value: "/v1/b" } } },
      ]);
      expect(() => buildRouteTable([service])).to.throw(Error, /ProbeService\.First .*ProbeService\.Second/);
    });

    it("allows one template under different HTTP methods or verbs", () => {
      const service = syntheticService([
        { name: "First", rule: { pattern: { case: "get", value: "/v1/things/{name}" } } },
        { name: "Second", rule: { pattern: { case: "delete", value: "/v1/things/{name}" } } },
        { name: "Third", rule: { pattern: { case: "get", value: "/v1/things/{name}:peek" } } },
      ]);
      expect(buildRouteTable([service]).routes).to.have.length(3);
    });

    const invalid: [string, Parameters<typeof syntheticService>[0][number], string][] = [
      ["a bad template", { name: "M", rule: { pattern: { case: "get", value: "/v1/{name" } } }, "unterminated"],
      ["a variable naming no field", { name: "M", rule: { pattern: { case: "get", value: "/v1/{nope}" } } }, 'has no field "nope"'],
      ["a variable through a scalar", { name: "M", rule: { pattern: { case: "get", value: "/v1/{name.x}" } } }, "not a message field"],
      ["a repeated variable", { name: "M", rule: { pattern: { case: "get", value: "/v1/{tags}" } } }, "singular scalar"],
      ["a message variable", { name: "M", rule: { pattern: { case: "get", value: "/v1/{inner}" } } }, "singular scalar"],
      ["a field bound twice", { name: "M", rule: { pattern: { case: "get", value: "/v1/{name}/{name}" } } }, "appears twice"],
      ["a body naming no field", { name: "M", rule: { pattern: { case: "post", value: "/v1/x" }, body: "nope" } }, 'body "nope"'],
      ["a nested body field", { name: "M", rule: { pattern: { case: "post", value: "/v1/x" }, body: "inner.id" } }, 'body "inner.id"'],
      ["a response_body naming no field", { name: "M", rule: { pattern: { case: "get", value: "/v1/x" }, responseBody: "nope" } }, 'response_body "nope"'],
      ["no HTTP method", { name: "M", rule: { body: "*" } }, "has no HTTP method"],
      ["an empty custom kind", { name: "M", rule: { pattern: { case: "custom", value: { kind: "", path: "/v1/x" } } } }, "has no HTTP method"],
      ["a streaming method", { name: "M", rule: { pattern: { case: "get", value: "/v1/x" } }, serverStreaming: true }, "only unary"],
      [
        "nested additional_bindings",
        {
          name: "M",
          rule: {
            pattern: { case: "get", value: "/v1/x" },
            additionalBindings: [{ pattern: { case: "get", value: "/v1/y" }, additionalBindings: [{ pattern: { case: "get", value: "/v1/z" } }] }],
          },
        },
        "cannot have additional_bindings",
      ],
    ];
    for (const [what, method, message] of invalid) {
      it(`throws for ${what}`, () => {
        expect(() => buildRouteTable([syntheticService([method])])).to.throw(Error, message);
      });
    }
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
