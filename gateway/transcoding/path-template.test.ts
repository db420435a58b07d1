import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { parsePathTemplate } from "./path-template.js";

describe("parsePathTemplate", () => {
  const matches: [template: string, path: string, expected: Record<string, string> | undefined][] = [
    ["/v1/inventory/items", "/v1/inventory/items", {}],
    ["/v1/inventory/items", "/v1/inventory/items/", undefined],
    ["/v1/inventory/items", "/v1/inventory", undefined],
    ["/v1/inventory/items/{sku}", "/v1/inventory/items/MUG-001", { sku: "MUG-001" }],
    ["/v1/inventory/items/{sku}", "/v1/inventory/items/", undefined],
    ["/v1/inventory/items/{sku}", "/v1/inventory/items/a/b", undefined],
    ["/v1/{book.name=shelves/*/books/*}", "/v1/shelves/s1/books/b1", { "book.name": "shelves/s1/books/b1" }],
    ["/v1/{a.b.c}", "/v1/x", { "a.b.c": "x" }],
    ["/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books", undefined],
    ["/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/covers/b1", undefined],
    ["/v1/{name=shelves/*}/books/{book}", "/v1/shelves/s1/books/b1", { name: "shelves/s1", book: "b1" }],
    ["/v1/*/items/{id}", "/v1/any/items/7", { id: "7" }],
    ["/v1/files/{path=**}", "/v1/files/a/b/c.txt", { path: "a/b/c.txt" }],
    ["/v1/files/{path=**}", "/v1/files", { path: "" }],
    ["/v1/files/{path=**}", "/v1/files/a//b", { path: "a//b" }],
    ["/v1/files/{path=**}", "/v1/files/a:b", { path: "a:b" }],
    ["/v1/files/**", "/v1/files/x/y", {}],
    ["/v1/orders/{order_id}:cancel", "/v1/orders/ord-1:cancel", { order_id: "ord-1" }],
    ["/v1/orders/{order_id}:cancel", "/v1/orders/ord-1:adjust", undefined],
    ["/v1/orders/{order_id}:cancel", "/v1/orders/ord-1", undefined],
    ["/v1/orders/{order_id}", "/v1/orders/ord-1:cancel", { order_id: "ord-1:cancel" }],
    ["/v1/orders/{order_id}:cancel", "/v1/orders/ord%3A1:cancel", { order_id: "ord:1" }],
    ["/v1/orders/{order_id}:cancel", "/v1/orders/ord-1%3Acancel", undefined],
    ["/v1/{name=shelves/*}:archive", "/v1/shelves/s1:archive", { name: "shelves/s1" }],
    // Single-segment variables decode everything, %2F included.
    ["/v1/items/{sku}", "/v1/items/a%2Fb%20c", { sku: "a/b c" }],
    ["/v1/items/{sku}", "/v1/items/caf%C3%A9", { sku: "café" }],
    ["/v1/items/{sku}", "/v1/items/a+b", { sku: "a+b" }],
    // Multi-segment variables decode everything but %2F / %2f.
    ["/v1/files/{path=**}", "/v1/files/a%2Fb/c%20d%2fe", { path: "a%2Fb/c d%2fe" }],
    ["/v1/{name=shelves/*}", "/v1/shelves/x%2Fy", { name: "shelves/x%2Fy" }],
    // Literals compare decoded.
    ["/v1/inventory/items", "/v1/inv%65ntory/items", {}],
    ["/v1/items", "v1/items", undefined],
  ];
  for (const [template, path, expected] of matches) {
    it(`${template} ${expected ? "matches" : "does not match"} ${path}`, () => {
      expect(parsePathTemplate(template).match(path)).to.deep.equal(expected);
    });
  }

  const malformed = ["/v1/items/%zz", "/v1/items/%4", "/v1/items/abc%", "/v1/items/%FF", "/v1/files/a/%C3"];
  for (const path of malformed) {
    it(`throws InvalidArgument for malformed percent-encoding in ${path}`, () => {
      for (const template of ["/v1/items/{sku}", "/v1/files/{path=**}"]) {
        const err = catchError(() => parsePathTemplate(template).match(path));
        expect(err).to.be.instanceOf(ConnectError);
        expect((err as ConnectError).code).to.equal(Code.InvalidArgument);
        expect((err as ConnectError).rawMessage).to.contain("malformed percent-encoding");
      }
    });
  }

  const shapes: [string, string][] = [
    ["/v1/{name=shelves/*/books/*}:archive", "/v1/shelves/*/books/*:archive"],
    ["/v1/shelves/{shelf}/books/{book}:archive", "/v1/shelves/*/books/*:archive"],
    ["/v1/files/{path=**}", "/v1/files/**"],
  ];
  for (const [template, shape] of shapes) {
    it(`gives ${template} the shape ${shape}`, () => {
      expect(parsePathTemplate(template).shape).to.equal(shape);
    });
  }

  it("records variables with their segments and decoding", () => {
    const t = parsePathTemplate("/v1/{parent=shelves/*}/books/{book.id}/{rest=**}:go");
    expect(t.verb).to.equal("go");
    expect(t.variables).to.deep.equal([
      { fieldPath: "parent", start: 1, end: 3, multiSegment: true },
      { fieldPath: "book.id", start: 4, end: 5, multiSegment: false },
      { fieldPath: "rest", start: 5, end: 6, multiSegment: true },
    ]);
  });

  const invalid: [string, string][] = [
    ["v1/items", "must start with /"],
    ["/", "empty segment"],
    ["/v1//items", "empty segment"],
    ["/v1/items/", "empty segment"],
    ["/v1/**/items", "** must be the last segment"],
    ["/v1/{a=**}/{b}", "** must be the last segment"],
    ["/v1/{a}/{a}", "appears twice"],
    ["/v1/{a={b}}", "nest"],
    ["/v1/{a", "unterminated"],
    ["/v1/a}", "unbalanced"],
    ["/v1/{a}x", "unbalanced"],
    ["/v1/x{a}", "nest"],
    ["/v1/{1a}", "bad field path"],
    ["/v1/{a..b}", "bad field path"],
    ["/v1/items:", "bad verb"],
    ["/v1/items:a/b", "bad verb"],
    ["/v1/it em", "bad literal"],
    ["/v1/a=b", "bad literal"],
  ];
  for (const [template, why] of invalid) {
    it(`rejects ${template} (${why})`, () => {
      expect(() => parsePathTemplate(template)).to.throw(Error, why);
    });
  }
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
