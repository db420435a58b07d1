import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import {
  BookSchema,
  Genre,
  LibraryService,
  ListBooksResponseSchema,
  LookupBookResponseSchema,
} from "../../test/gen/meshwork/library/v1/library_pb.js";
import { renderResponse } from "./response-body.js";
import { buildRouteTable } from "./route-table.js";
import type { Route } from "./route.js";
import { syntheticService } from "./synthetic-services.fixture.js";

describe("renderResponse", () => {
  const table = buildRouteTable([LibraryService]);
  const route = (method: string, path: string): Route => {
    const match = table.match(method, path);
    if ("error" in match) throw new Error(match.error);
    return match.route;
  };
  const book = create(BookSchema, {
    name: "shelves/s1/books/b1",
    title: "Dune",
    genre: Genre.FICTION,
    pageCount: 412,
    priceMinor: 1999n,
    publishedAt: timestampFromMs(Date.parse("1965-08-01T00:00:00Z")),
  });
  const list = route("GET", "/v1/shelves/s1/books");
  const lookup = route("GET", "/v1/isbn/1:lookup");

  const cases: [what: string, route: Route, message: Parameters<typeof renderResponse>[1], json: string][] = [
    [
      "the whole response in proto3 JSON, JSON names, defaults omitted",
      list,
      create(ListBooksResponseSchema, { books: [book, create(BookSchema, { title: "Empty" })] }),
      '{"books":[{"name":"shelves/s1/books/b1","title":"Dune","genre":"GENRE_FICTION","pageCount":412,' +
        '"priceMinor":"1999","publishedAt":"1965-08-01T00:00:00Z"},{"title":"Empty"}]}',
    ],
    ["an all-default response as {}", list, create(ListBooksResponseSchema), "{}"],
    [
      "only the response_body field",
      lookup,
      create(LookupBookResponseSchema, { book: create(BookSchema, { title: "Dune" }), source: "catalogue" }),
      '{"title":"Dune"}',
    ],
    ["an unset response_body message as {}", lookup, create(LookupBookResponseSchema, { source: "x" }), "{}"],
  ];
  for (const [what, r, message, json] of cases) {
    it(`renders ${what}`, () => {
      expect(renderResponse(r, message)).to.equal(json);
    });
  }

  describe("with a scalar or repeated response_body", () => {
    const probe = buildRouteTable([
      syntheticService([
        { name: "Tags", rule: { pattern: { case: "get", value: "/v1/tags" }, responseBody: "tags" } },
        { name: "Big", rule: { pattern: { case: "get", value: "/v1/big" }, responseBody: "big" } },
        { name: "Color", rule: { pattern: { case: "get", value: "/v1/color" }, responseBody: "color" } },
      ]),
    ]);
    const probeRoute = (path: string): Route => {
      const match = probe.match("GET", path);
      if ("error" in match) throw new Error(match.error);
      return match.route;
    };
    const schema = probeRoute("/v1/tags").method.output;
    const rendered: [path: string, init: Record<string, unknown>, json: string][] = [
      ["/v1/tags", { tags: ["a", "b"] }, '["a","b"]'],
      ["/v1/tags", {}, "[]"],
      ["/v1/big", { big: 5n }, '"5"'],
      ["/v1/big", {}, '"0"'],
      ["/v1/color", {}, '"COLOR_UNSPECIFIED"'],
    ];
    for (const [path, init, json] of rendered) {
      it(`renders ${path} of ${JSON.stringify(init, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))} as ${json}`, () => {
        expect(renderResponse(probeRoute(path), create(schema, init))).to.equal(json);
      });
    }
  });
});
