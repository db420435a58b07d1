import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { LibraryService } from "../../test/gen/meshwork/library/v1/library_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { buildRequest } from "./request-message.js";
import { buildRouteTable, type RouteTable } from "./route-table.js";
import { syntheticService } from "./synthetic-services.fixture.js";

const table = buildRouteTable([InventoryService, OrderService, LibraryService]);
const probe = buildRouteTable([
  syntheticService([
    { name: "Flag", rule: { pattern: { case: "get", value: "/v1/flags/{flag}" } } },
    { name: "Color", rule: { pattern: { case: "get", value: "/v1/colors/{color}" } } },
    { name: "Big", rule: { pattern: { case: "get", value: "/v1/big/{big}" } } },
    { name: "Small", rule: { pattern: { case: "get", value: "/v1/small/{small}" } } },
    { name: "At", rule: { pattern: { case: "get", value: "/v1/at/{at}" } } },
    { name: "Ratio", rule: { pattern: { case: "get", value: "/v1/ratio/{ratio}" } } },
    { name: "Inner", rule: { pattern: { case: "get", value: "/v1/inner/{inner.id}" } } },
  ]),
]);

/** Transcodes a request and returns the message as proto3 JSON with proto names, for comparison. */
function transcode(t: RouteTable, method: string, target: string, body?: string): JsonValue {
  const url = new URL(target, "http://gateway");
  const match = t.match(method, url.pathname);
  if ("error" in match) {
    throw new Error(`no route for ${method} ${target}: ${match.error}`);
  }
  const message = buildRequest(match.route, match.pathParams, url.searchParams, body);
  return toJson(match.route.method.input, message as never, { useProtoFieldName: true });
}

describe("buildRequest", () => {
  const cases: [what: string, t: RouteTable, method: string, target: string, body: string | undefined, expected: JsonValue][] = [
    // The shop's contracts.
    ["GetItem from the path", table, "GET", "/v1/inventory/items/MUG-001", undefined, { sku: "MUG-001" }],
    ["ListOrders from the query", table, "GET", "/v1/orders?page_size=5", undefined, { page_size: 5 }],
    ["ListOrders by JSON name", table, "GET", "/v1/orders?pageSize=5&pageToken=abc", undefined, { page_size: 5, page_token: "abc" }],
    ["CancelOrder with no body", table, "POST", "/v1/orders/ord-1:cancel", undefined, { order_id: "ord-1" }],
    ["CancelOrder with an empty body", table, "POST", "/v1/orders/ord-1:cancel", "  \n", { order_id: "ord-1" }],
    [
      "AdjustStock: path and body *",
      table,
      "POST",
      "/v1/inventory/items/MUG-001:adjust",
      '{"adjustmentId":"adj-1","delta":-3,"reason":"breakage"}',
      { sku: "MUG-001", adjustment_id: "adj-1", delta: -3, reason: "breakage" },
    ],
    [
      "AdjustStock: proto names in the body; the path wins over the body",
      table,
      "POST",
      "/v1/inventory/items/MUG-001:adjust",
      '{"sku":"OTHER","adjustment_id":"adj-1","delta":"2"}',
      { sku: "MUG-001", adjustment_id: "adj-1", delta: 2 },
    ],
    [
      "PlaceOrder: the whole body",
      table,
      "POST",
      "/v1/orders",
      '{"requestId":"r1","lines":[{"sku":"MUG-001","quantity":2}],"cardToken":"tok_visa"}',
      { request_id: "r1", lines: [{ sku: "MUG-001", quantity: 2 }], card_token: "tok_visa" },
    ],
    // The library fixture.
    ["GetBook: a multi-segment variable", table, "GET", "/v1/shelves/s1/books/b1", undefined, { name: "shelves/s1/books/b1" }],
    ["GetFile: ** keeps %2F", table, "GET", "/v1/files/a%2Fb/c%20d.png", undefined, { path: "a%2Fb/c d.png" }],
    ["ListBooks: enum from the path", table, "GET", "/v1/genres/GENRE_POETRY/books", undefined, { genre: "GENRE_POETRY" }],
    ["ListBooks: enum number from the path", table, "GET", "/v1/genres/2/books", undefined, { genre: "GENRE_NONFICTION" }],
    [
      "ListBooks: every kind of query filter",
      table,
      "GET",
      "/v1/shelves/s1/books?authors=Le%20Guin&authors=Herbert&filter.title_prefix=Du&filter.minPages=100" +
        "&genre=GENRE_FICTION&published_after=2020-01-02T03:04:05Z&max_price_minor=9223372036854775807" +
        "&include_archived=true&max_reading_time=1.5s&min_rating=4&read_mask=title,pageCount&genres=1&genres=GENRE_POETRY",
      undefined,
      {
        shelf: "s1",
        authors: ["Le Guin", "Herbert"],
        filter: { title_prefix: "Du", min_pages: 100 },
        genre: "GENRE_FICTION",
        published_after: "2020-01-02T03:04:05Z",
        max_price_minor: "9223372036854775807",
        include_archived: true,
        max_reading_time: "1.500s",
        min_rating: 4,
        read_mask: "title,pageCount",
        genres: ["GENRE_FICTION", "GENRE_POETRY"],
      },
    ],
    ["ListBooks: bool false and '+' as space", table, "GET", "/v1/shelves/s1/books?include_archived=false&page_token=a+b", undefined, { shelf: "s1", page_token: "a b" }],
    ["ListBooks: an empty string value", table, "GET", "/v1/shelves/s1/books?page_token=", undefined, { shelf: "s1" }],
    [
      "CreateBook: body is the named field, other fields from the query",
      table,
      "POST",
      "/v1/shelves/s1/books?request_id=r-9",
      '{"title":"Dune","authors":["Herbert"],"genre":"GENRE_FICTION","pageCount":412,"price_minor":"1999","publishedAt":"1965-08-01T00:00:00Z"}',
      {
        shelf: "s1",
        request_id: "r-9",
        book: { title: "Dune", authors: ["Herbert"], genre: "GENRE_FICTION", page_count: 412, price_minor: "1999", published_at: "1965-08-01T00:00:00Z" },
      },
    ],
    [
      "UpdateBook: a nested path variable inside the body field",
      table,
      "PATCH",
      "/v1/shelves/s1/books/b1?update_mask=title",
      '{"name":"ignored","title":"Dune Messiah"}',
      { book: { name: "shelves/s1/books/b1", title: "Dune Messiah" }, update_mask: "title" },
    ],
    ["UpdateBook: no body creates the path's message", table, "PUT", "/v1/shelves/s1/books/b1", undefined, { book: { name: "shelves/s1/books/b1" } }],
    ["DeleteBook: path and query", table, "DELETE", "/v1/shelves/s1/books/b1?allow_missing=true", undefined, { name: "shelves/s1/books/b1", allow_missing: true }],
    [
      "ArchiveBook: custom verb, body *",
      table,
      "POST",
      "/v1/shelves/s1/books/b1:archive",
      '{"reason":"worn"}',
      { name: "shelves/s1/books/b1", reason: "worn" },
    ],
    ["LookupBook: int64 from the path", table, "GET", "/v1/isbn/9780441013593:lookup", undefined, { isbn: "9780441013593" }],
    // Path conversions the fixture does not cover.
    ["bool path true", probe, "GET", "/v1/flags/true", undefined, { flag: true }],
    ["bool path false", probe, "GET", "/v1/flags/false", undefined, {}],
    ["enum path by name", probe, "GET", "/v1/colors/COLOR_RED", undefined, { color: "COLOR_RED" }],
    ["int64 path negative", probe, "GET", "/v1/big/-9223372036854775808", undefined, { big: "-9223372036854775808" }],
    ["uint32 path", probe, "GET", "/v1/small/4294967295", undefined, { small: 4294967295 }],
    ["Timestamp path", probe, "GET", "/v1/at/2024-02-29T12:00:00.5Z", undefined, { at: "2024-02-29T12:00:00.500Z" }],
    ["double path", probe, "GET", "/v1/ratio/NaN", undefined, { ratio: "NaN" }],
    ["nested path field", probe, "GET", "/v1/inner/x%20y", undefined, { inner: { id: "x y" } }],
  ];
  for (const [what, t, method, target, body, expected] of cases) {
    it(what, () => {
      expect(transcode(t, method, target, body)).to.deep.equal(expected);
    });
  }

  const invalid: [what: string, t: RouteTable, method: string, target: string, body: string | undefined, message: string | RegExp][] = [
    ["malformed JSON", table, "POST", "/v1/orders", '{"requestId":', /^malformed JSON: /],
    ["an unknown JSON field", table, "POST", "/v1/orders", '{"requestId":"r1","coupon":"X"}', /invalid request body: .*key "coupon" is unknown/],
    ["an unknown nested JSON field", table, "POST", "/v1/shelves/s1/books", '{"title":"x","isbn":1}', /key "isbn" is unknown/],
    ["a JSON value of the wrong type", table, "POST", "/v1/inventory/items/MUG-001:adjust", '{"delta":"many"}', /invalid request body: .*delta/],
    ["a JSON array as the message", table, "POST", "/v1/orders", "[]", /invalid request body/],
    ["a body where the rule has none", table, "GET", "/v1/orders", "{}", "GET /v1/orders takes no request body"],
    ["a body on DELETE", table, "DELETE", "/v1/shelves/s1/books/b1", '{"allow_missing":true}', "takes no request body"],
    ["an unknown query parameter", table, "GET", "/v1/orders?page_size=5&limit=3&sort=x", undefined, 'unknown query parameters "limit", "sort" for meshwork.orders.v1.ListOrdersRequest'],
    ["an unknown nested query parameter", table, "GET", "/v1/shelves/s1/books?filter.nope=1", undefined, 'unknown query parameter "filter.nope"'],
    ["a query parameter into a well-known type", table, "GET", "/v1/shelves/s1/books?min_rating.value=3", undefined, 'unknown query parameter "min_rating.value"'],
    ["a query parameter when the body is *", table, "POST", "/v1/orders?request_id=r1", "{}", 'query parameter "request_id" is not allowed: the request body carries every field'],
    ["a query parameter for a path field", table, "GET", "/v1/inventory/items/MUG-001?sku=OTHER", undefined, 'query parameter "sku" is not allowed: "sku" is bound by the path'],
    ["a query parameter inside the body field", table, "POST", "/v1/shelves/s1/books?book.title=x", undefined, 'query parameter "book.title" is not allowed: "book" is bound by the request body'],
    ["a query parameter for a nested path field", table, "PATCH", "/v1/shelves/s1/books/b1?book.name=x", undefined, 'query parameter "book.name" is not allowed'],
    ["a duplicate singular value", table, "GET", "/v1/orders?page_size=5&page_size=6", undefined, 'query parameter "page_size" is given 2 times, but the field is not repeated'],
    ["a duplicate under both names", table, "GET", "/v1/orders?page_size=5&pageSize=6", undefined, 'query parameter "page_size" is given 2 times'],
    ["a message-valued query parameter", table, "GET", "/v1/shelves/s1/books?filter=x", undefined, 'query parameter "filter" cannot be set from the query string (message field)'],
    ["two members of a oneof", table, "GET", "/v1/shelves/s1/books?filter.title_prefix=a&filter.title_exact=b", undefined, 'query parameter "filter.title_prefix" and query parameter "filter.title_exact" set two members of oneof "title"'],
    ["a non-number int32", table, "GET", "/v1/orders?page_size=five", undefined, /invalid value for query parameter "page_size": .*page_size/],
    ["an int32 overflow", table, "GET", "/v1/orders?page_size=2147483648", undefined, /invalid value for query parameter "page_size": .*out of range/],
    ["an empty int32", table, "GET", "/v1/orders?page_size=", undefined, 'invalid value for query parameter "page_size"'],
    ["an int64 overflow in the query", table, "GET", "/v1/shelves/s1/books?max_price_minor=9223372036854775808", undefined, /"max_price_minor": .*out of range/],
    ["an int64 overflow in the path", table, "GET", "/v1/isbn/99999999999999999999:lookup", undefined, /invalid value for path parameter "isbn": .*out of range/],
    ["a fractional int64 in the path", table, "GET", "/v1/isbn/1.5:lookup", undefined, 'invalid value for path parameter "isbn"'],
    ["a negative uint32 in the path", probe, "GET", "/v1/small/-1", undefined, 'invalid value for path parameter "small"'],
    ["a bad bool", table, "GET", "/v1/shelves/s1/books?include_archived=yes", undefined, /"include_archived": .*expected boolean/],
    ["a bad bool in the path", probe, "GET", "/v1/flags/1", undefined, 'invalid value for path parameter "flag"'],
    ["an unknown enum name", table, "GET", "/v1/shelves/s1/books?genre=GENRE_OPERA", undefined, /"genre": .*GENRE_OPERA/],
    ["an unknown enum name in the path", table, "GET", "/v1/genres/OPERA/books", undefined, 'invalid value for path parameter "genre"'],
    ["an enum in another case", table, "GET", "/v1/shelves/s1/books?genre=genre_fiction", undefined, 'invalid value for query parameter "genre"'],
    ["a bad timestamp", table, "GET", "/v1/shelves/s1/books?published_after=yesterday", undefined, /"published_after": .*RFC 3339/],
    ["a bad duration", table, "GET", "/v1/shelves/s1/books?max_reading_time=90", undefined, 'invalid value for query parameter "max_reading_time"'],
    ["a bad wrapper", table, "GET", "/v1/shelves/s1/books?min_rating=high", undefined, 'invalid value for query parameter "min_rating"'],
    ["a snake_case field mask (proto3 JSON wants lowerCamel)", table, "GET", "/v1/shelves/s1/books?read_mask=page_count", undefined, /"read_mask": .*lowerCamelCase/],
    ["a bad timestamp in the path", probe, "GET", "/v1/at/noon", undefined, 'invalid value for path parameter "at"'],
  ];
  for (const [what, t, method, target, body, message] of invalid) {
    it(`refuses ${what} with InvalidArgument`, () => {
      const err = catchError(() => transcode(t, method, target, body));
      expect(err).to.be.instanceOf(ConnectError);
      expect((err as ConnectError).code).to.equal(Code.InvalidArgument);
      if (typeof message === "string") {
        expect((err as ConnectError).rawMessage).to.contain(message);
      } else {
        expect((err as ConnectError).rawMessage).to.match(message);
      }
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
