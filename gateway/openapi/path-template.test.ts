import { expect } from "chai";
import { parsePathTemplate as parseHttpTemplate } from "../transcoding/path-template.js";
import { parsePathTemplate } from "./path-template.js";

describe("OpenAPI path templates", () => {
  it("write each variable as one parameter, with the pattern of its segments", () => {
    expect(parsePathTemplate("/v1/{name=shelves/*/books/*}:archive")).to.deep.equal({
      path: "/v1/{name}:archive",
      variables: [{ fieldPath: "name", segments: "shelves/*/books/*", pattern: "^shelves/[^/]+/books/[^/]+$" }],
    });
    expect(parsePathTemplate("/v1/orders/{order_id}")).to.deep.equal({ path: "/v1/orders/{order_id}", variables: [{ fieldPath: "order_id" }] });
  });

  // The document must describe what the routes accept: for each path, the
  // variable's pattern matches its value exactly when the route matches.
  for (const [template, paths] of [
    ["/v1/{name=shelves/*/books/**}", ["/v1/shelves/s1/books", "/v1/shelves/s1/books/b1", "/v1/shelves/s1/books/b1/pages/2", "/v1/shelves/s1"]],
    ["/v1/files/{path=**}", ["/v1/files/a", "/v1/files/a/b/c", "/v1/files/"]],
    ["/v1/{name=shelves/*}", ["/v1/shelves/s1", "/v1/shelves/s1/x", "/v1/shelves/"]],
  ] as const) {
    it(`agrees with the routes on ${template}`, () => {
      const route = parseHttpTemplate(template);
      const variable = parsePathTemplate(template).variables[0]!;
      // eslint-disable-next-line security/detect-non-literal-regexp -- the pattern under test is the one the OpenAPI document publishes
      const pattern = new RegExp(variable.pattern!);
      const prefix = template.slice(0, template.indexOf("{"));
      for (const path of paths) {
        const matched = route.match(path);
        const value = path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
        expect(value !== undefined && pattern.test(value), `${path}: route ${JSON.stringify(matched)}, pattern ${pattern}`).to.equal(matched !== undefined);
        if (matched !== undefined) {
          expect(matched[variable.fieldPath], path).to.equal(value);
        }
      }
    });
  }
});
