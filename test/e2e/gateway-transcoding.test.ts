import { clone, create, toJson, toJsonString, type JsonValue, type Message } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import {
  createAccessPolicy,
  createTokenVerifier,
  devAudience,
  devIssuer,
  ensureDevKeys,
  signDevToken,
} from "../../gateway/auth/index.js";
import { clientAddressResolver } from "../../gateway/http/client-address.js";
import { RateLimiter } from "../../gateway/limits/rate-limiter.js";
import { EdgeAdmission } from "../../gateway/server/edge-admission.js";
import { GatewayServer } from "../../gateway/server/gateway-server.js";
import { UpstreamCaller } from "../../gateway/server/upstream-call.js";
import {
  ArchiveBookRequestSchema,
  BookSchema,
  CreateBookRequestSchema,
  DeleteBookRequestSchema,
  GetBookRequestSchema,
  GetFileRequestSchema,
  LibraryService,
  ListBooksRequestSchema,
  LookupBookRequestSchema,
  UpdateBookRequestSchema,
  type ListBooksRequest,
} from "../gen/meshwork/library/v1/library_pb.js";
import { ClientFactory, createLogger, registration, serve, type MeshServer } from "../../mesh/index.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

/** What one HTTP exchange came back as, whatever the protocol. */
interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
}

/** A request the in-test LibraryService received, keyed by the x-request-id the gateway forwarded. */
interface Received {
  readonly rpc: string;
  readonly request: Message;
  /** The request as proto3 JSON (default options: unset fields left out). */
  readonly json: JsonValue;
  readonly customer: string | null;
}

/**
 * One row of the table: an HTTP request and everything the gateway must make
 * of it. For a 2xx row, `rpc` and `received` say which RPC the service saw and
 * exactly what request message (as proto3 JSON, so an int64 is its exact
 * decimal string, an enum its name, a Timestamp its normalized RFC 3339 form).
 * For an error row, the service must not have been called at all, and the
 * body must be the one error shape.
 */
interface Row {
  readonly name: string;
  readonly method: string;
  /** Path and query, sent as written (not normalized by a URL parser). */
  readonly path: string;
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  /** Send alice's bearer token (needed by the "customer" methods). */
  readonly token?: boolean;
  /** Send this Authorization header instead. */
  readonly authorization?: string;
  /** Send over node:http instead of fetch: for paths fetch would normalize. */
  readonly raw?: boolean;
  readonly status: number;
  readonly rpc?: string;
  readonly received?: JsonValue;
  /** The exact JSON response body. */
  readonly response?: JsonValue;
  /** For errors: the code, and text the message must contain. */
  readonly error?: { readonly code: string; readonly mentions?: readonly string[] };
  readonly headers?: Record<string, string>;
  /** Extra checks on the service's own (typed) request message and the parsed response. */
  readonly check?: (received: Received | undefined, body: unknown) => void;
}

/**
 * REST/JSON transcoding, one row per google.api.http feature, against a real
 * GatewayServer (real route table, token verifier over dev keys, access
 * policy, rate limiter, mesh client) in front of a real `serve()` of the
 * LibraryService fixture whose implementation echoes what it received.
 */
describe("gateway REST/JSON transcoding, real gateway and real service", function () {
  this.timeout(60_000);

  const logger = createLogger("gateway-transcoding-test", "silent");
  const seen = new Map<string, Received>();
  let keysDir: string;
  let library: MeshServer;
  let clients: ClientFactory;
  let gateway: GatewayServer;
  let base: string;
  let port: number;
  let token: string;

  function record(rpc: string, request: Message, schema: Parameters<typeof toJson>[0], ctx: HandlerContext): void {
    const id = ctx.requestHeader.get("x-request-id") ?? "";
    seen.set(id, { rpc, request, json: toJson(schema, request), customer: ctx.requestHeader.get("x-customer-id") });
  }

  /** Every filter of ListBooks lands in a field of the one book, typed as in the request. */
  function listEcho(req: ListBooksRequest) {
    const filter = req.filter;
    const title = filter?.title.case === undefined ? "" : `${filter.title.case}=${filter.title.value}`;
    return {
      books: [
        {
          name: req.shelf !== "" ? `shelves/${req.shelf}` : `genres/${req.genre}`,
          title,
          authors: req.authors,
          genre: req.genre,
          pageCount: req.pageSize,
          priceMinor: req.maxPriceMinor,
          publishedAt: req.publishedAfter,
          archived: req.includeArchived,
        },
      ],
      // The whole request as the service decoded it: a dedicated echo field.
      nextPageToken: toJsonString(ListBooksRequestSchema, req),
    };
  }

  before(async () => {
    keysDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-transcoding-"));
    const keys = await ensureDevKeys(keysDir);
    token = await signDevToken(keysDir, { subject: "alice" });

    library = await serve({
      services: [
        registration(LibraryService, {
          getBook(req, ctx) {
            record("GetBook", req, GetBookRequestSchema, ctx);
            return { book: { name: req.name, title: `Title of ${req.name}` } };
          },
          listBooks(req, ctx) {
            record("ListBooks", req, ListBooksRequestSchema, ctx);
            return listEcho(req);
          },
          createBook(req, ctx) {
            record("CreateBook", req, CreateBookRequestSchema, ctx);
            const stored = clone(BookSchema, req.book ?? create(BookSchema));
            stored.name = `shelves/${req.shelf}/books/${req.requestId}`;
            return { book: stored };
          },
          updateBook(req, ctx) {
            record("UpdateBook", req, UpdateBookRequestSchema, ctx);
            return { book: req.book };
          },
          deleteBook(req, ctx) {
            record("DeleteBook", req, DeleteBookRequestSchema, ctx);
            return {};
          },
          archiveBook(req, ctx) {
            record("ArchiveBook", req, ArchiveBookRequestSchema, ctx);
            return { book: { name: req.name, title: req.reason, archived: true } };
          },
          lookupBook(req, ctx) {
            record("LookupBook", req, LookupBookRequestSchema, ctx);
            return {
              book: req.isbn === 0n ? undefined : { name: `isbn/${req.isbn}`, priceMinor: req.isbn },
              source: "catalogue",
            };
          },
          getFile(req, ctx) {
            record("GetFile", req, GetFileRequestSchema, ctx);
            return { path: req.path, content: new TextEncoder().encode(req.path) };
          },
        }),
      ],
      logger,
      port: 0,
    });

    const upstreams = [{ service: LibraryService, target: { name: "library", endpoints: library.url } }];
    const policy = createAccessPolicy(
      {
        methods: {
          "meshwork.library.v1.LibraryService/GetBook": "public",
          "meshwork.library.v1.LibraryService/ListBooks": "public",
          "meshwork.library.v1.LibraryService/CreateBook": "customer",
          "meshwork.library.v1.LibraryService/UpdateBook": "customer",
          "meshwork.library.v1.LibraryService/DeleteBook": "customer",
          "meshwork.library.v1.LibraryService/ArchiveBook": "customer",
          "meshwork.library.v1.LibraryService/LookupBook": "public",
          "meshwork.library.v1.LibraryService/GetFile": "public",
        },
      },
      [LibraryService],
    );
    clients = new ClientFactory();
    const caller = new UpstreamCaller({ upstreams, clients, policy, forwardHeaders: ["traceparent"], logger });
    const admission = new EdgeAdmission({
      verifier: await createTokenVerifier({ jwks: { file: keys.jwksFile }, issuer: devIssuer, audience: devAudience }),
      byAddress: new RateLimiter({ ratePerSecond: 10_000, burst: 10_000 }),
      bySubject: new RateLimiter({ ratePerSecond: 10_000, burst: 10_000 }),
      clientAddress: clientAddressResolver([]),
    });
    gateway = new GatewayServer({ upstreams, caller, admission, logger, cors: { allowedOrigins: [] } });
    port = await gateway.listen(0, "127.0.0.1");
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await gateway?.close(1_000);
    clients?.close();
    await library?.shutdown();
    rmSync(keysDir, { recursive: true, force: true });
  });

  const book = "shelves/s1/books/b1";
  const rows: Row[] = [
    // --- path templates -------------------------------------------------------
    {
      name: "GET {name=shelves/*/books/*}: a multi-segment variable",
      method: "GET",
      path: "/v1/shelves/s1/books/b1",
      status: 200,
      rpc: "GetBook",
      received: { name: book },
      response: { book: { name: book, title: `Title of ${book}` } },
    },
    {
      name: "HEAD: a custom-kind additional binding of the same template",
      method: "HEAD",
      path: "/v1/shelves/s1/books/b1",
      status: 200,
      rpc: "GetBook",
      received: { name: book },
      check: (_r, body) => expect(body).to.equal(undefined),
    },
    {
      name: "GET {path=**}: the rest of the path, slashes included",
      method: "GET",
      path: "/v1/files/covers/2024/dune.png",
      status: 200,
      rpc: "GetFile",
      received: { path: "covers/2024/dune.png" },
      response: { path: "covers/2024/dune.png", content: Buffer.from("covers/2024/dune.png").toString("base64") },
    },
    {
      name: "GET {path=**}: percent-decoded, except %2F stays encoded (no new separators)",
      method: "GET",
      path: "/v1/files/a%20b/c%2Fd/caf%C3%A9+x.png",
      status: 200,
      rpc: "GetFile",
      received: { path: "a b/c%2Fd/café+x.png" },
    },
    {
      name: "GET {path=**}: a ':' in the last segment is data when no template has that verb",
      method: "GET",
      path: "/v1/files/notes/a:b",
      status: 200,
      rpc: "GetFile",
      received: { path: "notes/a:b" },
    },
    {
      name: "GET {shelf}: a single-segment variable is fully decoded, %2F included",
      method: "GET",
      path: "/v1/shelves/my%2Fshelf%20caf%C3%A9/books",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "my/shelf café" },
    },
    {
      name: "GET {name=...}: an encoded ':' (%3A) is data, never a verb separator",
      method: "GET",
      path: "/v1/shelves/s1/books/b%3Aarchive",
      status: 200,
      rpc: "GetBook",
      received: { name: "shelves/s1/books/b:archive" },
    },
    {
      name: "additional binding on a second path: an enum path variable, by name",
      method: "GET",
      path: "/v1/genres/GENRE_POETRY/books",
      status: 200,
      rpc: "ListBooks",
      received: { genre: "GENRE_POETRY" },
      response: { books: [{ name: "genres/3", genre: "GENRE_POETRY" }], nextPageToken: '{"genre":"GENRE_POETRY"}' },
    },
    {
      name: "additional binding on a second path: an enum path variable, by number",
      method: "GET",
      path: "/v1/genres/2/books?page_size=5",
      status: 200,
      rpc: "ListBooks",
      received: { genre: "GENRE_NONFICTION", pageSize: 5 },
    },
    // --- bodies ---------------------------------------------------------------
    {
      name: 'POST custom verb :archive with body "*": path and body fill one message',
      method: "POST",
      path: "/v1/shelves/s1/books/b1:archive",
      body: { reason: "worn out" },
      token: true,
      status: 200,
      rpc: "ArchiveBook",
      received: { name: book, reason: "worn out" },
      response: { book: { name: book, title: "worn out", archived: true } },
      check: (r) => expect(r?.customer).to.equal("alice"),
    },
    {
      name: 'body "*": the path variable wins over the same field in the body',
      method: "POST",
      path: "/v1/shelves/s1/books/b1:archive",
      body: { name: "shelves/other/books/x", reason: "r" },
      token: true,
      status: 200,
      rpc: "ArchiveBook",
      received: { name: book, reason: "r" },
    },
    {
      name: 'POST named body field (body "book"), JSON names; request_id from the query',
      method: "POST",
      path: "/v1/shelves/s1/books?request_id=req-7",
      body: {
        title: "Dune",
        authors: ["Frank Herbert"],
        genre: "GENRE_FICTION",
        pageCount: 412,
        priceMinor: "9007199254740993",
        publishedAt: "1965-08-01T00:00:00Z",
        archived: false,
      },
      token: true,
      status: 200,
      rpc: "CreateBook",
      received: {
        shelf: "s1",
        book: {
          title: "Dune",
          authors: ["Frank Herbert"],
          genre: "GENRE_FICTION",
          pageCount: 412,
          priceMinor: "9007199254740993",
          publishedAt: "1965-08-01T00:00:00Z",
        },
        requestId: "req-7",
      },
      response: {
        book: {
          name: "shelves/s1/books/req-7",
          title: "Dune",
          authors: ["Frank Herbert"],
          genre: "GENRE_FICTION",
          pageCount: 412,
          priceMinor: "9007199254740993",
          publishedAt: "1965-08-01T00:00:00Z",
        },
      },
      check: (r) => {
        const req = r?.request as { book?: { priceMinor: unknown; pageCount: unknown } } | undefined;
        expect(req?.book?.priceMinor).to.equal(9007199254740993n);
        expect(req?.book?.pageCount).to.equal(412);
        expect(r?.customer).to.equal("alice");
      },
    },
    {
      name: "named body field with proto names in the body and a JSON name in the query",
      method: "POST",
      path: "/v1/shelves/s1/books?requestId=req-8",
      body: { title: "Dune", page_count: 412, price_minor: "1999", published_at: "1965-08-01T00:00:00+02:00", genre: 2 },
      token: true,
      status: 200,
      rpc: "CreateBook",
      received: {
        shelf: "s1",
        book: { title: "Dune", pageCount: 412, priceMinor: "1999", publishedAt: "1965-07-31T22:00:00Z", genre: "GENRE_NONFICTION" },
        requestId: "req-8",
      },
    },
    {
      name: 'PATCH {book.name=shelves/*/books/*} with body "book": nested path variable, mask from the query',
      method: "PATCH",
      path: "/v1/shelves/s1/books/b1?update_mask=title,pageCount",
      body: { title: "New title", pageCount: 10 },
      token: true,
      status: 200,
      rpc: "UpdateBook",
      received: { book: { name: book, title: "New title", pageCount: 10 }, updateMask: "title,pageCount" },
      response: { book: { name: book, title: "New title", pageCount: 10 } },
      check: (r) => {
        const req = r?.request as { updateMask?: { paths: string[] } } | undefined;
        expect(req?.updateMask?.paths).to.deep.equal(["title", "page_count"]);
      },
    },
    {
      name: "PATCH: the path's book.name wins over the name in the body",
      method: "PATCH",
      path: "/v1/shelves/s1/books/b1",
      body: { name: "shelves/evil/books/x", title: "t" },
      token: true,
      status: 200,
      rpc: "UpdateBook",
      received: { book: { name: book, title: "t" } },
    },
    {
      name: "PUT: the additional binding of UpdateBook",
      method: "PUT",
      path: "/v1/shelves/s2/books/b2?updateMask=archived",
      body: { archived: true },
      token: true,
      status: 200,
      rpc: "UpdateBook",
      received: { book: { name: "shelves/s2/books/b2", archived: true }, updateMask: "archived" },
    },
    {
      name: "DELETE, with a bool from the query",
      method: "DELETE",
      path: "/v1/shelves/s1/books/b1?allow_missing=true",
      token: true,
      status: 200,
      rpc: "DeleteBook",
      received: { name: book, allowMissing: true },
      response: {},
    },
    {
      name: "an empty body is no body: the body field stays unset",
      method: "POST",
      path: "/v1/shelves/s1/books?request_id=r0",
      body: "  \n",
      token: true,
      status: 200,
      rpc: "CreateBook",
      received: { shelf: "s1", requestId: "r0" },
    },
    // --- response_body ----------------------------------------------------------
    {
      name: "response_body: only the book is the HTTP body (int64 path variable beyond 2^53)",
      method: "GET",
      path: "/v1/isbn/9780441013593:lookup",
      status: 200,
      rpc: "LookupBook",
      received: { isbn: "9780441013593" },
      response: { name: "isbn/9780441013593", priceMinor: "9780441013593" },
      check: (r) => expect((r?.request as { isbn?: unknown } | undefined)?.isbn).to.equal(9780441013593n),
    },
    {
      name: "response_body: an unset message field is sent as {}",
      method: "GET",
      path: "/v1/isbn/0:lookup",
      status: 200,
      rpc: "LookupBook",
      received: {},
      response: {},
    },
    // --- query parameters -----------------------------------------------------
    {
      name: "query: repeated field by repetition; '+' is a space in a query",
      method: "GET",
      path: "/v1/shelves/s1/books?authors=Frank+Herbert&authors=Ursula%20K.%20Le%20Guin",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", authors: ["Frank Herbert", "Ursula K. Le Guin"] },
      check: (_r, body) => expect((body as { books: { authors: string[] }[] }).books[0]?.authors).to.deep.equal(["Frank Herbert", "Ursula K. Le Guin"]),
    },
    {
      name: "query: nested fields, proto and JSON names, into a oneof member",
      method: "GET",
      path: "/v1/shelves/s1/books?filter.min_pages=100&filter.titlePrefix=Du",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", filter: { titlePrefix: "Du", minPages: 100 } },
      check: (_r, body) => expect((body as { books: { title: string }[] }).books[0]?.title).to.equal("titlePrefix=Du"),
    },
    {
      name: "query: enum by name, by number, and a repeated enum",
      method: "GET",
      path: "/v1/shelves/s1/books?genre=GENRE_FICTION&genres=GENRE_POETRY&genres=2",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", genre: "GENRE_FICTION", genres: ["GENRE_POETRY", "GENRE_NONFICTION"] },
    },
    {
      name: "query: Timestamp in RFC 3339 with an offset (%2B), normalized to UTC",
      method: "GET",
      path: "/v1/shelves/s1/books?published_after=2024-01-02T03:04:05.5%2B01:00",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", publishedAfter: "2024-01-02T02:04:05.500Z" },
      check: (_r, body) =>
        expect((body as { books: { publishedAt: string }[] }).books[0]?.publishedAt).to.equal("2024-01-02T02:04:05.500Z"),
    },
    {
      name: "query: Duration",
      method: "GET",
      path: "/v1/shelves/s1/books?max_reading_time=90.5s",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", maxReadingTime: "90.500s" },
      check: (r) => {
        const d = (r?.request as ListBooksRequest | undefined)?.maxReadingTime;
        expect([d?.seconds, d?.nanos]).to.deep.equal([90n, 500_000_000]);
      },
    },
    {
      name: "query: wrapper (Int32Value) — 0 is set, not absent",
      method: "GET",
      path: "/v1/shelves/s1/books?min_rating=0",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", minRating: 0 },
      check: (r) => expect((r?.request as ListBooksRequest | undefined)?.minRating).to.equal(0),
    },
    {
      name: "query: FieldMask, comma-separated lowerCamel paths",
      method: "GET",
      path: "/v1/shelves/s1/books?readMask=title,pageCount,publishedAt",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", readMask: "title,pageCount,publishedAt" },
      check: (r) =>
        expect((r?.request as ListBooksRequest | undefined)?.readMask?.paths).to.deep.equal(["title", "page_count", "published_at"]),
    },
    {
      name: "query: int64 beyond 2^53 preserved exactly",
      method: "GET",
      path: "/v1/shelves/s1/books?max_price_minor=9007199254740993",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", maxPriceMinor: "9007199254740993" },
      check: (r, body) => {
        expect((r?.request as ListBooksRequest | undefined)?.maxPriceMinor).to.equal(9007199254740993n);
        expect((body as { books: { priceMinor: string }[] }).books[0]?.priceMinor).to.equal("9007199254740993");
      },
    },
    {
      name: "query: bool true and false, int32 by JSON name, string",
      method: "GET",
      path: "/v1/shelves/s1/books?include_archived=true&pageSize=25&page_token=abc%3D%3D",
      status: 200,
      rpc: "ListBooks",
      received: { shelf: "s1", includeArchived: true, pageSize: 25, pageToken: "abc==" },
      check: (r, body) => {
        expect((r?.request as ListBooksRequest | undefined)?.includeArchived).to.equal(true);
        expect((body as { books: { archived: boolean; pageCount: number }[] }).books[0]).to.include({ archived: true, pageCount: 25 });
      },
    },
    {
      name: "query: every kind at once, each in its own field",
      method: "GET",
      path:
        "/v1/shelves/s9/books?page_size=3&authors=a&authors=b&filter.title_exact=Dune&filter.minPages=7" +
        "&genre=3&published_after=1970-01-01T00:00:01Z&max_price_minor=-9223372036854775808" +
        "&include_archived=false&max_reading_time=3s&minRating=5&read_mask=title&genres=1",
      status: 200,
      rpc: "ListBooks",
      received: {
        shelf: "s9",
        pageSize: 3,
        authors: ["a", "b"],
        filter: { titleExact: "Dune", minPages: 7 },
        genre: "GENRE_POETRY",
        publishedAfter: "1970-01-01T00:00:01Z",
        maxPriceMinor: "-9223372036854775808",
        maxReadingTime: "3s",
        minRating: 5,
        readMask: "title",
        genres: ["GENRE_FICTION"],
      },
    },
    // --- client mistakes: 400 naming the culprit, service never called ---------
    {
      name: "unknown query parameter -> 400 naming it",
      method: "GET",
      path: "/v1/shelves/s1/books?colour=red",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"colour"'] },
    },
    {
      name: "unknown nested query parameter -> 400 naming it",
      method: "GET",
      path: "/v1/shelves/s1/books?filter.colour=red",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"filter.colour"'] },
    },
    {
      name: "unknown JSON field in the body -> 400 naming it",
      method: "POST",
      path: "/v1/shelves/s1/books",
      body: { title: "x", colour: "red" },
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ['"colour"'] },
    },
    {
      name: "int64 overflow in the query -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?max_price_minor=9223372036854775808",
      status: 400,
      error: { code: "invalid_argument", mentions: ["max_price_minor", "out of range"] },
    },
    {
      name: "int64 overflow in the path -> 400",
      method: "GET",
      path: "/v1/isbn/99999999999999999999:lookup",
      status: 400,
      error: { code: "invalid_argument", mentions: ['path parameter "isbn"', "out of range"] },
    },
    {
      name: "int64 overflow in the body -> 400",
      method: "POST",
      path: "/v1/shelves/s1/books",
      body: { priceMinor: "9223372036854775808" },
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ["price_minor", "out of range"] },
    },
    {
      // BUG (gateway/transcoding/request-message.ts readBody, JSON.parse): proto3
      // JSON accepts an int64 as a number too, but an unquoted literal beyond
      // 2^53 is rounded to a double before protobuf-es sees it, so the service
      // silently gets ...992. Currently fails; see the report for the fix.
      name: "an unquoted int64 beyond 2^53 in the body reaches the service exactly, not rounded",
      method: "POST",
      path: "/v1/shelves/s1/books?request_id=big",
      body: '{"title":"t","priceMinor":9007199254740993}',
      token: true,
      status: 200,
      rpc: "CreateBook",
      received: { shelf: "s1", book: { title: "t", priceMinor: "9007199254740993" }, requestId: "big" },
    },
    {
      name: "wrong type in the query (int32) -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?page_size=abc",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"page_size"', "abc"] },
    },
    {
      name: "wrong type in the query (bool) -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?include_archived=yes",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"include_archived"'] },
    },
    {
      name: "unknown enum name in the path -> 400",
      method: "GET",
      path: "/v1/genres/GENRE_NOPE/books",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"genre"', "GENRE_NOPE"] },
    },
    {
      name: "wrong type in the body -> 400",
      method: "POST",
      path: "/v1/shelves/s1/books",
      body: { pageCount: "many" },
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ["page_count", "many"] },
    },
    {
      name: "malformed JSON body -> 400",
      method: "POST",
      path: "/v1/shelves/s1/books",
      body: '{"title": ',
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ["malformed JSON"] },
    },
    {
      name: "duplicate singular query parameter -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?page_size=1&page_size=2",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"page_size"', "2 times"] },
    },
    {
      name: "duplicate singular query parameter under its proto and JSON names -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?page_size=1&pageSize=2",
      status: 400,
      error: { code: "invalid_argument", mentions: ["page_size", "2 times"] },
    },
    {
      name: "two members of one oneof from the query -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?filter.title_prefix=a&filter.title_exact=b",
      status: 400,
      error: { code: "invalid_argument", mentions: ['oneof "title"'] },
    },
    {
      name: "a query parameter for a path-bound field -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?shelf=s2",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"shelf"', "bound by the path"] },
    },
    {
      name: "a query parameter inside the body field -> 400",
      method: "POST",
      path: "/v1/shelves/s1/books?book.title=x",
      body: { title: "y" },
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ['"book.title"', "request body"] },
    },
    {
      name: 'a query parameter where body is "*" -> 400',
      method: "POST",
      path: "/v1/shelves/s1/books/b1:archive?reason=x",
      body: {},
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ['"reason"'] },
    },
    {
      name: "a body on a method without body -> 400",
      method: "DELETE",
      path: "/v1/shelves/s1/books/b1",
      body: { allowMissing: true },
      token: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ["takes no request body"] },
    },
    {
      name: "a message-typed query parameter -> 400",
      method: "GET",
      path: "/v1/shelves/s1/books?filter=x",
      status: 400,
      error: { code: "invalid_argument", mentions: ['"filter"'] },
    },
    {
      name: "malformed percent-encoding in the path -> 400",
      method: "GET",
      path: "/v1/shelves/%E0%A4/books",
      raw: true,
      status: 400,
      error: { code: "invalid_argument", mentions: ["percent-encoding"] },
    },
    // --- routing: 404 and 405 -----------------------------------------------------
    {
      name: "no route -> 404",
      method: "GET",
      path: "/v1/magazines",
      status: 404,
      error: { code: "not_found", mentions: ["/v1/magazines"] },
    },
    {
      name: "a prefix of a route is no route -> 404",
      method: "GET",
      path: "/v1/shelves/s1",
      status: 404,
      error: { code: "not_found" },
    },
    {
      name: "an empty segment does not match * -> 404",
      method: "GET",
      path: "/v1/shelves//books",
      raw: true,
      status: 404,
      error: { code: "not_found" },
    },
    {
      name: "a trailing slash is another path -> 404",
      method: "GET",
      path: "/v1/shelves/s1/books/",
      status: 404,
      error: { code: "not_found" },
    },
    {
      // BUG (gateway/server/gateway-server.ts: `new URL(req.url, "http://gateway")`):
      // an origin-form target starting with "//" is parsed as a scheme-relative
      // URL, so "//evil.example" becomes the host and the rest is routed to
      // ListBooks. Currently fails (200); see the report for the fix.
      name: "a path starting with // is no route (not an authority) -> 404",
      method: "GET",
      path: "//evil.example/v1/shelves/s1/books",
      raw: true,
      status: 404,
      error: { code: "not_found" },
    },
    {
      name: "wrong method on a bound path -> 405 with Allow",
      method: "PUT",
      path: "/v1/shelves/s1/books",
      body: {},
      status: 405,
      error: { code: "unimplemented", mentions: ["PUT"] },
      headers: { allow: "GET, POST" },
    },
    {
      name: "wrong method on a custom verb -> 405 with Allow: POST",
      method: "GET",
      path: "/v1/shelves/s1/books/b1:archive",
      status: 405,
      error: { code: "unimplemented" },
      headers: { allow: "POST" },
    },
    {
      name: "wrong method on a resource -> 405 listing every binding's method",
      method: "POST",
      path: "/v1/shelves/s1/books/b1",
      body: {},
      status: 405,
      error: { code: "unimplemented" },
      headers: { allow: "DELETE, GET, HEAD, PATCH, PUT" },
    },
    // --- auth through the real verifier and policy --------------------------------
    {
      name: "a customer method without a token -> 401",
      method: "POST",
      path: "/v1/shelves/s1/books",
      body: { title: "x" },
      status: 401,
      error: { code: "unauthenticated", mentions: ["bearer token"] },
    },
    {
      name: "an invalid token is refused even on a public method -> 401",
      method: "GET",
      path: "/v1/shelves/s1/books/b1",
      authorization: "Bearer not.a.token",
      status: 401,
      error: { code: "unauthenticated" },
    },
  ];

  function headersOf(row: Row, id: string): Record<string, string> {
    const headers: Record<string, string> = { "x-request-id": id };
    if (row.body !== undefined) {
      headers["content-type"] = "application/json";
    }
    if (row.authorization !== undefined) {
      headers["authorization"] = row.authorization;
    } else if (row.token === true) {
      headers["authorization"] = `Bearer ${token}`;
    }
    return headers;
  }

  function bodyOf(row: Row): string | undefined {
    return row.body === undefined ? undefined : typeof row.body === "string" ? row.body : JSON.stringify(row.body);
  }

  async function viaFetch(row: Row, id: string): Promise<Answer> {
    const body = bodyOf(row);
    const res = await fetch(base + row.path, {
      method: row.method,
      headers: headersOf(row, id),
      ...(body === undefined ? {} : { body }),
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => (headers[name] = value));
    return { status: res.status, headers, text: await res.text() };
  }

  /** HTTP/1.1 with the request target exactly as written. */
  function viaNodeHttp(row: Row, id: string): Promise<Answer> {
    const body = bodyOf(row);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port, method: row.method, path: row.path, headers: headersOf(row, id), agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) {
              headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
            }
            resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString("utf8") });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  /** HTTP/2 (cleartext, prior knowledge) on the same port. */
  function viaHttp2(session: http2.ClientHttp2Session, row: Row, id: string): Promise<Answer> {
    const body = bodyOf(row);
    return new Promise((resolve, reject) => {
      const stream = session.request({ ":method": row.method, ":path": row.path, ...headersOf(row, id) }, { endStream: body === undefined });
      let status = 0;
      const headers: Record<string, string> = {};
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        for (const [k, v] of Object.entries(h)) {
          if (!k.startsWith(":") && v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
        }
      });
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => resolve({ status, headers, text: Buffer.concat(chunks).toString("utf8") }));
      stream.on("error", reject);
      if (body !== undefined) stream.end(body);
    });
  }

  function verify(row: Row, id: string, answer: Answer): void {
    const where = `${row.method} ${row.path} -> ${answer.status} ${answer.text}`;
    expect(answer.status, where).to.equal(row.status);
    expect(answer.headers["x-request-id"], "x-request-id echoed").to.equal(id);
    for (const [name, value] of Object.entries(row.headers ?? {})) {
      expect(answer.headers[name], `${name} header`).to.equal(value);
    }
    const received = seen.get(id);
    const body: unknown = answer.text === "" ? undefined : JSON.parse(answer.text);
    if (row.status >= 400) {
      expect(answer.headers["content-type"], "error content-type").to.equal("application/json");
      expect(Object.keys(body as object).sort(), where).to.deep.equal(["code", "details", "message"]);
      const error = body as { code: unknown; message: unknown; details: unknown };
      expect(error.code, where).to.equal(row.error?.code);
      expect(error.message).to.be.a("string");
      expect(error.details).to.be.an("array");
      for (const text of row.error?.mentions ?? []) {
        expect(error.message, where).to.include(text);
      }
      expect(received, "refused at the edge: the service never saw it").to.equal(undefined);
    } else {
      if (row.method !== "HEAD") {
        expect(answer.headers["content-type"]).to.equal("application/json");
      }
      expect(received, `the service was called (${where})`).to.not.equal(undefined);
      expect(received?.rpc).to.equal(row.rpc);
      expect(received?.json, `request the service received (${where})`).to.deep.equal(row.received);
      if (row.response !== undefined) {
        expect(body, "response body").to.deep.equal(row.response);
      }
      if (row.rpc === "ListBooks") {
        // The echo field round-trips the request through the service: the same JSON.
        const token = (body as { nextPageToken?: string }).nextPageToken ?? "{}";
        expect(JSON.parse(token), "ListBooks echo").to.deep.equal(row.received);
      }
    }
    row.check?.(received, body);
  }

  describe("over HTTP/1.1 (fetch)", () => {
    for (const row of rows) {
      it(row.name, async () => {
        const id = `h1-${randomUUID()}`;
        const answer = row.raw === true ? await viaNodeHttp(row, id) : await viaFetch(row, id);
        verify(row, id, answer);
      });
    }
  });

  describe("over HTTP/2 (node:http2, same port)", () => {
    let session: http2.ClientHttp2Session;
    before(() => {
      session = http2.connect(base);
    });
    after(() => {
      session.close();
    });
    const picked = [
      "GET {name=shelves/*/books/*}: a multi-segment variable",
      'POST named body field (body "book"), JSON names; request_id from the query',
      "query: every kind at once, each in its own field",
      "response_body: only the book is the HTTP body (int64 path variable beyond 2^53)",
      "unknown query parameter -> 400 naming it",
      "wrong method on a bound path -> 405 with Allow",
      "no route -> 404",
    ];
    for (const name of picked) {
      const row = rows.find((r) => r.name === name);
      if (row === undefined) throw new Error(`no row ${name}`);
      it(name, async () => {
        const id = `h2-${randomUUID()}`;
        verify(row, id, await viaHttp2(session, row, id));
      });
    }
    it("negotiated HTTP/2 for real", async () => {
      const version = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":method": "GET", ":path": "/v1/shelves/s1/books/b1" });
        stream.on("response", () => resolve(2));
        stream.on("error", reject);
        stream.resume();
      });
      expect(version).to.equal(2);
      expect(session.alpnProtocol ?? "h2c").to.equal("h2c");
    });
  });

  describe("x-request-id", () => {
    it("keeps a client-supplied id, forwards it, and generates one when absent or unusable", async () => {
      const kept = await fetch(`${base}/v1/shelves/s1/books/b1`, { headers: { "x-request-id": "client-id-1" } });
      expect(kept.headers.get("x-request-id")).to.equal("client-id-1");
      expect(seen.get("client-id-1")?.rpc).to.equal("GetBook");

      const absent = await fetch(`${base}/v1/shelves/s1/books/b1`);
      const generated = absent.headers.get("x-request-id") ?? "";
      expect(generated).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(seen.get(generated)?.rpc, "the generated id is the one forwarded").to.equal("GetBook");

      const unusable = await fetch(`${base}/v1/magazines`, { headers: { "x-request-id": "has spaces" } });
      expect(unusable.status).to.equal(404);
      expect(unusable.headers.get("x-request-id")).to.match(/^[0-9a-f-]{36}$/);
    });
  });
});

/**
 * The demo shop's REST routes through the real gateway process in front of the
 * real inventory, payments and orders processes.
 */
describe("gateway demo routes, real gateway process", function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let url: string;
  let auth: Record<string, string>;

  before(async () => {
    mesh = await startMesh({ gateway: {} });
    url = mesh.gateway!.url;
    const token = await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "alice" });
    auth = { authorization: `Bearer ${token}` };
  });
  after(async () => {
    await mesh?.stop();
  });

  async function json(res: Response): Promise<Record<string, unknown>> {
    expect(res.headers.get("content-type")).to.equal("application/json");
    return (await res.json()) as Record<string, unknown>;
  }

  it("lists the catalogue one page at a time (public, no token)", async () => {
    const res = await fetch(`${url}/v1/inventory/items?page_size=2`);
    expect(res.status).to.equal(200);
    const body = (await json(res)) as { items: { sku: string }[]; nextPageToken: string };
    expect(body.items).to.have.length(2);
    expect(body.nextPageToken).to.be.a("string").and.not.equal("");
    const next = (await json(await fetch(`${url}/v1/inventory/items?page_size=2&page_token=${encodeURIComponent(body.nextPageToken)}`))) as {
      items: { sku: string }[];
    };
    expect(next.items.map((i) => i.sku)).to.not.include.members(body.items.map((i) => i.sku));
  });

  it("gets one item, int64 as an exact JSON string", async () => {
    const res = await fetch(`${url}/v1/inventory/items/MUG-001`);
    expect(res.status).to.equal(200);
    const body = (await json(res)) as { item: Record<string, unknown> };
    expect(body.item).to.include({ sku: "MUG-001", name: "Mug", priceMinor: "1400", currencyCode: "USD" });
  });

  it("places, gets, lists an order, and refuses to cancel it once confirmed", async () => {
    const placed = await fetch(`${url}/v1/orders`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", "x-request-id": "demo-place-1" },
      body: JSON.stringify({ requestId: `r-${randomUUID()}`, lines: [{ sku: "MUG-001", quantity: 2 }], cardToken: "tok_visa" }),
    });
    expect(placed.headers.get("x-request-id")).to.equal("demo-place-1");
    const placedBody = (await json(placed)) as { order: Record<string, unknown> };
    expect(placed.status, JSON.stringify(placedBody)).to.equal(200);
    const order = placedBody.order;
    expect(order).to.include({ customerId: "alice", state: "ORDER_STATE_CONFIRMED", totalMinor: "2800", currencyCode: "USD" });
    const id = order["orderId"] as string;
    expect(id).to.be.a("string").and.not.equal("");

    const got = await fetch(`${url}/v1/orders/${encodeURIComponent(id)}`, { headers: auth });
    expect(got.status).to.equal(200);
    expect(((await json(got)) as { order: Record<string, unknown> }).order).to.include({ orderId: id, state: "ORDER_STATE_CONFIRMED" });

    const listed = await fetch(`${url}/v1/orders`, { headers: auth });
    expect(listed.status).to.equal(200);
    const orders = ((await json(listed)) as { orders: { orderId: string }[] }).orders;
    expect(orders.map((o) => o.orderId)).to.include(id);

    const cancel = await fetch(`${url}/v1/orders/${encodeURIComponent(id)}:cancel`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{}",
    });
    expect(cancel.status).to.equal(400);
    const generated = cancel.headers.get("x-request-id") ?? "";
    expect(generated, "generated when absent").to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const error = (await json(cancel)) as { code: string; message: string; details: Record<string, unknown>[] };
    expect(Object.keys(error).sort()).to.deep.equal(["code", "details", "message"]);
    expect(error.code).to.equal("failed_precondition");
    expect(error.details).to.have.length.greaterThan(0);
    expect(error.details[0]).to.include({
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "ORDER_NOT_CANCELLABLE",
      domain: "meshwork.dev",
    });
  });

  it("needs a token for orders: 401 in the JSON error shape", async () => {
    const res = await fetch(`${url}/v1/orders`, { headers: { "x-request-id": "demo-anon-1" } });
    expect(res.status).to.equal(401);
    expect(res.headers.get("x-request-id")).to.equal("demo-anon-1");
    const error = await json(res);
    expect(Object.keys(error).sort()).to.deep.equal(["code", "details", "message"]);
    expect(error["code"]).to.equal("unauthenticated");
  });
});
