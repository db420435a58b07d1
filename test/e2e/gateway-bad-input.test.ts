import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { DevTokens, errorShapeProblem, httpRequest, mapBounded, rawExchange, type RawRequest, type RawResponse } from "../support/gateway-http.js";

/**
 * A generated corpus of bad HTTP requests against the gateway in front of the
 * real services: every answer must be a 4xx with the gateway's JSON error
 * body, never a 5xx; afterwards the gateway is alive and no order exists.
 * Every order request names an unknown SKU as well, so even a request the
 * gateway wrongly let through would stop at pricing and write nothing.
 */

interface Case {
  readonly name: string;
  /** As node:http sends it; customer routes get alice's token unless `anonymous`. */
  readonly request?: RawRequest;
  /** Bytes written as they are on a fresh connection. */
  readonly raw?: Buffer;
  readonly anonymous?: boolean;
}

const ghost = "NOPE-404";
const validOrder = { requestId: "bad-input-1", lines: [{ sku: ghost, quantity: 1 }], cardToken: "tok_visa" };
const validText = JSON.stringify(validOrder);

function corpus(): Case[] {
  const cases: Case[] = [];
  const post = (name: string, body: string | Buffer, headers: Record<string, string> = { "content-type": "application/json" }, p = "/v1/orders"): void => {
    cases.push({ name, request: { method: "POST", path: p, headers, body } });
  };
  const get = (name: string, p: string, headers: Record<string, string> = {}, anonymous = false): void => {
    cases.push({ name, request: { method: "GET", path: p, headers }, anonymous });
  };
  const raw = (name: string, requestLine: Buffer | string, headers = ""): void => {
    const line = typeof requestLine === "string" ? Buffer.from(requestLine, "latin1") : requestLine;
    cases.push({ name, raw: Buffer.concat([line, Buffer.from(`\r\nhost: gateway\r\nconnection: close\r\n${headers}\r\n`, "latin1")]) });
  };

  // Malformed and truncated JSON: every proper prefix of a valid body (empty
  // and whitespace-only prefixes are "no body", refused by validation).
  for (let i = 0; i < validText.length; i++) {
    post(`truncated at ${i}`, validText.slice(0, i));
  }
  for (const text of [
    "{", "}", "[", "]", "{{}}", "{'requestId': 'x'}", '{"requestId": "x",}', '{"requestId" "x"}', '{"requestId": x}', "undefined", "NaN",
    '{"requestId": "\\x41"}', '{"requestId": "\\u12"}', '{"requestId": "unterminated}', "{\"a\":1}{\"b\":2}", "\u0000", "\ufeff{}", "{/*c*/}", "01", "-",
    '{"lines": [,]}', '{"lines": [{"sku": "A",, "quantity": 1}]}', "true", "false", "123", '"a string"', "[]", "[1,2,3]", "null",
  ]) {
    post(`malformed ${JSON.stringify(text).slice(0, 40)}`, text);
  }

  // Wrong types for every field, and nulls.
  const wrongValues: unknown[] = [123, -1, 1.5, true, false, [], {}, "str", [1], { a: 1 }, null, ""];
  const withField = (mutate: (o: Record<string, unknown>, line: Record<string, unknown>) => void): string => {
    const line: Record<string, unknown> = { sku: ghost, quantity: 1 };
    const o: Record<string, unknown> = { requestId: "bad-input-types", lines: [line], cardToken: "tok_visa" };
    mutate(o, line);
    return JSON.stringify(o);
  };
  for (const value of wrongValues) {
    post(`requestId=${JSON.stringify(value)}`, withField((o) => (o["requestId"] = value)));
    post(`lines=${JSON.stringify(value)}`, withField((o) => (o["lines"] = value)));
    post(`cardToken=${JSON.stringify(value)}`, withField((o) => (o["cardToken"] = value)));
    post(`lines[0].sku=${JSON.stringify(value)}`, withField((_, l) => (l["sku"] = value)));
    post(`lines[0].quantity=${JSON.stringify(value)}`, withField((_, l) => (l["quantity"] = value)));
    post(`lines[0]=${JSON.stringify(value)}`, withField((o) => (o["lines"] = [value])));
  }

  // 64-bit (and 32-bit) overflow, in the body and the query string.
  const bigNumbers = [
    "2147483648", "-2147483649", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "1e30", "1e400", "-1e400", "99999999999999999999999999999999", "0x10", "1e-400",
  ];
  for (const n of bigNumbers) {
    post(`quantity ${n}`, withField((_, l) => (l["quantity"] = "<N>")).replace('"<N>"', n));
    post(`quantity "${n}"`, withField((_, l) => (l["quantity"] = n)));
    // protobuf-es reads "0x10" as 16 and "1e-400" as 0: valid page sizes, not bad input.
    if (n !== "0x10" && n !== "1e-400") {
      get(`ListItems page_size=${n}`, `/v1/inventory/items?page_size=${encodeURIComponent(n)}`, {}, true);
      get(`ListOrders pageSize=${n}`, `/v1/orders?pageSize=${encodeURIComponent(n)}`);
    }
    post(`AdjustStock delta ${n}`, `{"adjustmentId":"adj-x","delta":${n}}`, { "content-type": "application/json" }, `/v1/inventory/items/${ghost}:adjust`);
  }
  for (const v of ["NaN", "Infinity", "-Infinity", "1.5", " 1", "1 ", "1_000", "true", "1,2", "[1]", "١"]) {
    get(`ListItems page_size=${JSON.stringify(v)}`, `/v1/inventory/items?page_size=${encodeURIComponent(v)}`, {}, true);
  }

  // Deep nesting.
  for (const depth of [1_000, 10_000, 100_000]) {
    post(`${depth} nested arrays`, "[".repeat(depth) + "]".repeat(depth));
    post(`${depth} nested objects`, '{"a":'.repeat(depth) + "1" + "}".repeat(depth));
    post(`lines of ${depth} nested arrays`, `{"requestId":"deep","lines":${"[".repeat(depth)}${"]".repeat(depth)},"cardToken":"tok_visa"}`);
    post(`${depth} unclosed arrays`, "[".repeat(depth));
  }

  // Invalid UTF-8 in the body.
  for (const bytes of [[0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3], [0xe2, 0x82], [0xfe, 0xfe, 0xff]]) {
    const [head, tail] = validText.split(ghost);
    post(`invalid UTF-8 ${Buffer.from(bytes).toString("hex")} in a string`, Buffer.concat([Buffer.from(head!), Buffer.from(bytes), Buffer.from(tail!)]));
    post(`invalid UTF-8 ${Buffer.from(bytes).toString("hex")} alone`, Buffer.from(bytes));
  }

  // Strings beyond the validation limits.
  for (const size of [65, 257, 10_000, 500_000]) {
    const s = "A".repeat(size);
    post(`requestId of ${size}`, withField((o) => (o["requestId"] = s)));
    post(`cardToken of ${size}`, withField((o) => (o["cardToken"] = s)));
    post(`sku of ${size}`, withField((_, l) => (l["sku"] = s)));
    if (size < 12_000) {
      get(`ListItems page_token of ${size}`, `/v1/inventory/items?page_token=${s}`, {}, true);
      get(`ListOrders page_token of ${size}`, `/v1/orders?page_token=${s}`);
      get(`GetItem sku of ${size}`, `/v1/inventory/items/${s}`, {}, true);
      get(`GetOrder id of ${size}`, `/v1/orders/${s}`);
    }
  }
  post("51 lines", withField((o) => (o["lines"] = Array.from({ length: 51 }, (_, i) => ({ sku: `NOPE-${i}`, quantity: 1 })))));
  post("10000 lines", withField((o) => (o["lines"] = Array.from({ length: 10_000 }, (_, i) => ({ sku: `NOPE-${i}`, quantity: 1 })))));
  post("duplicate skus", withField((o) => (o["lines"] = [{ sku: ghost, quantity: 1 }, { sku: ghost, quantity: 1 }])));
  post("lowercase sku", withField((_, l) => (l["sku"] = "mug-001")));
  post("zero quantity", withField((_, l) => (l["quantity"] = 0)));
  post("quantity 1001", withField((_, l) => (l["quantity"] = 1001)));
  post("empty object", "{}");

  // Unknown fields (and prototype keys).
  for (const extra of ['"foo":1', '"customerId":"bob"', '"customer_id":"bob"', '"__proto__":{"requestId":"x"}', '"constructor":{}', '"orderId":"o-1"', '"@type":"x"', '"requestId":"dup"']) {
    post(`unknown field ${extra}`, validText.replace("{", `{${extra},`));
  }
  post("unknown field in a line", withField((_, l) => (l["price"] = 1)));
  post("unknown field in cancel", '{"reason":"x"}', { "content-type": "application/json" }, "/v1/orders/o-1:cancel");

  // Duplicate singular and unknown query parameters; query on a body route.
  for (const query of [
    "page_size=1&page_size=2", "pageSize=1&page_size=1", "page_token=a&page_token=b", "page_token=a&pageToken=b", "page_size=1&page_size=1",
    "foo=1", "page_size", "page_size=", "PAGE_SIZE=1", "page-size=1", "items=1", "page_size[]=1", "page_size.x=1", "%ZZ=1", "page_size=%ZZ",
  ]) {
    get(`ListItems ?${query}`, `/v1/inventory/items?${query}`, {}, true);
    get(`ListOrders ?${query}`, `/v1/orders?${query}`);
  }
  post("query on a whole-body route", validText, { "content-type": "application/json" }, "/v1/orders?requestId=x");
  get("GetItem sku in query too", `/v1/inventory/items/${ghost}?sku=MUG-001`, {}, true);
  get("GetOrder order_id in query too", "/v1/orders/o-1?order_id=o-2");

  // Odd paths and encodings.
  for (const p of [
    "/v1/inventory/items/%00", "/v1/inventory/items/%ZZ", "/v1/inventory/items/%", "/v1/inventory/items/%4", "/v1/inventory/items/a%2Fb",
    "/v1/inventory/items/%C0%AF", "/v1/inventory/items/%E0%80%AF", "/v1/inventory/items/%F0%80%80%AF", "/v1/inventory/items/%FF", "/v1/inventory/items/%ED%A0%80",
    "/v1/inventory/items/..", "/v1/inventory/items/../../../../etc/passwd", "/v1/inventory/items/%2E%2E", "/v1/inventory/items/%2e%2e%2f%2e%2e",
    "/v1/inventory//items", "/v1/inventory/items/", "/v1/inventory/items//", "/v1/inventory/items/MUG-001/", "/v1//inventory/items/MUG-001",
    "/v1/inventory/items/MUG-001:", "/v1/inventory/items/:adjust", "/v1/inventory/items/MUG-001:unknownverb", "/v1/inventory/items/MUG%3A001",
    "/v1/inventory/items/%E2%9C%93", "/v1/inventory/items/mug-001", "/v1/inventory/items/-", "/V1/INVENTORY/ITEMS", "/v1/inventory/items;x=1",
    "/v1/inventory/items/MUG-001%00.json", "/v1/inventory/items/%25", "/v1/inventory/items/%2525", "/%2e%2e/v1/inventory/items", "/.", "/..", "/%",
    "/v1/inventory/items/" + "%41".repeat(3000), "/" + "a/".repeat(4000), "/v1/inventory/items/" + "x".repeat(15_000), "/v1/" + "%ZZ".repeat(1000),
    "//", "///", "//v1/inventory/items", "//attacker.example/v1/inventory/items", "/v1/inventory/items/#frag",
    "*", "/\\", "/\\\\attacker", "/v1/inventory/items/a\\b",
  ]) {
    get(`path ${p.slice(0, 60)}`, p, {}, true);
  }
  for (const p of ["/v1/orders/%00", "/v1/orders/%ZZ", "/v1/orders/..%2F..%2Fx", "/v1/orders/%C0%AF", "/v1/orders/" + "o".repeat(65), "/v1/orders/o-1:cancel:cancel", "/v1/orders/:cancel"]) {
    get(`orders path ${p.slice(0, 60)}`, p);
    post(`cancel ${p.slice(0, 60)}`, "{}", { "content-type": "application/json" }, p.includes(":cancel") ? p : `${p}:cancel`);
  }
  // Raw bytes node:http will not send: non-ASCII, overlong UTF-8 and control bytes on the request line.
  for (const bytes of [[0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xff], [0xe2, 0x9c, 0x93], [0x00], [0x7f], [0x09], [0x0b]]) {
    raw(`raw path byte ${Buffer.from(bytes).toString("hex")}`, Buffer.concat([Buffer.from("GET /v1/inventory/items/"), Buffer.from(bytes), Buffer.from(" HTTP/1.1")]));
  }
  raw("raw absolute-form target", "GET http://attacker.example/v1/inventory/items HTTP/1.1");
  raw("raw asterisk target", "GET * HTTP/1.1");
  raw("raw no path", "GET  HTTP/1.1");
  raw("raw HTTP/1.0 without host", "GET /v1/nothing HTTP/1.0");
  // HTTP/1.1 requires Host; Node's server refuses its absence itself, with an
  // empty text 400 unless the gateway takes over (see the report).
  cases.push({ name: "raw HTTP/1.1 without host", raw: Buffer.from("GET /v1/inventory/items HTTP/1.1\r\nconnection: close\r\n\r\n") });
  cases.push({ name: "raw HTTP/1.1 with two hosts", raw: Buffer.from("GET /v1/nothing HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n") });
  raw("raw bad version", "GET /v1/inventory/items HTTP/9.9");
  raw("raw lowercase method", "get /v1/inventory/items HTTP/1.1");
  raw("raw unknown method", "FROB /v1/inventory/items HTTP/1.1");
  raw("raw header without colon", "GET /v1/inventory/items HTTP/1.1", "not-a-header\r\n");
  raw("raw header with space before colon", "GET /v1/inventory/items HTTP/1.1", "x-bad : 1\r\n");
  raw("raw header with NUL", "GET /v1/inventory/items HTTP/1.1", "x-bad: a\u0000b\r\n");
  raw("raw two content-lengths", "POST /v1/orders HTTP/1.1", "content-length: 1\r\ncontent-length: 2\r\n");
  raw("raw negative content-length", "POST /v1/orders HTTP/1.1", "content-length: -1\r\n");
  raw("raw content-length and chunked", "POST /v1/orders HTTP/1.1", "content-length: 3\r\ntransfer-encoding: chunked\r\n");
  raw("raw bad chunk size", "POST /v1/orders HTTP/1.1", "transfer-encoding: chunked\r\n\r\nzz\r\n");
  raw("raw obsolete line folding", "GET /v1/inventory/items HTTP/1.1", "x-folded: a\r\n b\r\n");

  // Oversized bodies and headers.
  const mib = 1024 * 1024;
  post("body of 1 MiB + 1", Buffer.alloc(mib + 1, 0x20));
  post("JSON body over 1 MiB", withField((o) => (o["cardToken"] = "t".repeat(mib))));
  cases.push({ name: "chunked body over 1 MiB", request: { method: "POST", path: "/v1/orders", headers: { "content-type": "application/json" }, body: Buffer.alloc(mib + 10, 0x20), chunked: true } });
  post("body over 1 MiB on a no-body route", Buffer.alloc(mib + 1, 0x20), {}, "/v1/inventory/items");
  post("AdjustStock body over 1 MiB", Buffer.alloc(2 * mib, 0x7b), {}, `/v1/inventory/items/${ghost}:adjust`);
  cases.push({ name: "declared content-length of 1 TB", raw: Buffer.from("POST /v1/orders HTTP/1.1\r\nhost: g\r\nconnection: close\r\ncontent-length: 1000000000000\r\n\r\n{}") });
  for (const size of [17 * 1024, 64 * 1024]) {
    get(`one header of ${size}`, "/v1/inventory/items", { "x-padding": "p".repeat(size) }, true);
    get(`cookie of ${size}`, "/v1/orders", { cookie: "c=" + "v".repeat(size) });
  }
  // Host first: node:http puts its own Host after the given headers, where
  // Node's server (maxHeadersCount 2000) would drop it. Node's 16 KiB counts
  // names and values only, so these are well over it.
  for (const count of [4000, 10000]) {
    const many: Record<string, string> = { host: "gateway" };
    for (let i = 0; i < count; i++) many[`x-h${i}`] = "1";
    get(`${count} headers`, "/v1/inventory/items", many, true);
  }
  get("path of 20 KiB", "/v1/inventory/items/" + "y".repeat(20 * 1024), {}, true);

  // Wrong content types: the body is still a bad order.
  for (const contentType of [
    "text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "application/json; charset=latin1",
    "application/grpc", "application/grpc-web+proto", "application/connect+json", "application/proto", "", "*/*", "application/json, text/plain",
  ]) {
    post(`content-type ${JSON.stringify(contentType)}`, '{"requestId":"ct","lines":[{"sku":"NOPE-404","quantity":0}],"cardToken":"tok_visa"}', contentType === "" ? {} : { "content-type": contentType });
  }
  post("form body", "requestId=x&cardToken=tok_visa", { "content-type": "application/x-www-form-urlencoded" });
  post("XML body", "<order><requestId>x</requestId></order>", { "content-type": "application/xml" });
  post("protobuf bytes", Buffer.from([0x0a, 0x01, 0x78, 0x12, 0x00]), { "content-type": "application/proto" });
  post("GET route with a body", "{}", { "content-type": "application/json" }, "/v1/inventory/items");
  cases.push({ name: "GET with a body", request: { method: "GET", path: "/v1/inventory/items", headers: { "content-type": "application/json" }, body: '{"pageSize":1}' }, anonymous: true });

  // Bad client deadlines and bad tokens.
  for (const [name, value] of [
    ["x-request-timeout-ms", "abc"], ["x-request-timeout-ms", "0"], ["x-request-timeout-ms", "-1"], ["x-request-timeout-ms", "1e3"], ["x-request-timeout-ms", "99999999999"],
    ["grpc-timeout", "1"], ["grpc-timeout", "1X"], ["grpc-timeout", "-1S"], ["grpc-timeout", "123456789S"], ["grpc-timeout", ""],
  ] as const) {
    get(`${name}: ${JSON.stringify(value)}`, "/v1/inventory/items", { [name]: value }, true);
    post(`order with ${name}: ${JSON.stringify(value)}`, validText, { "content-type": "application/json", [name]: value });
  }
  for (const authorization of [
    "Bearer", "Bearer ", "Bearer a.b.c", "Bearer ..", "Basic YWxpY2U6cHc=", "Bearer " + "x".repeat(9000), "Bearer eyJhbGciOiJub25lIn0.e30.",
    "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6MX0.e30.AAAA", "Bearer eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.AAAA", "Bearer W10.W10.AAAA", "Bearer bnVsbA.bnVsbA.AAAA",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "Bearer eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.AAAA",
  ]) {
    get(`GET items with authorization ${authorization.slice(0, 40)}`, "/v1/inventory/items", { authorization }, true);
    cases.push({ name: `order with authorization ${authorization.slice(0, 40)}`, request: { method: "POST", path: "/v1/orders", headers: { authorization, "content-type": "application/json" }, body: validText } });
  }
  cases.push({ name: "order without a token", request: { method: "POST", path: "/v1/orders", headers: { "content-type": "application/json" }, body: validText }, anonymous: true });
  cases.push({ name: "AdjustStock anonymous", request: { method: "POST", path: "/v1/inventory/items/MUG-001:adjust", headers: { "content-type": "application/json" }, body: '{"adjustmentId":"a","delta":1}' }, anonymous: true });

  // Wrong methods.
  for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]) {
    get(`${method} /v1/orders`, "/v1/orders");
    cases[cases.length - 1] = { name: `${method} /v1/orders`, request: { method, path: "/v1/orders", headers: {} } };
  }
  return cases;
}

describe("gateway bad-input corpus, real processes", function () {
  this.timeout(300_000);
  let mesh: TestMesh;
  let alice: string;
  const cases = corpus();
  const answers = new Map<string, RawResponse | Error>();

  before(async () => {
    mesh = await startMesh({ gateway: { RATE_LIMIT_PER_SECOND: "100000", RATE_LIMIT_BURST: "100000" } });
    alice = await new DevTokens(mesh.dataDir).sign("alice");
    const gw = mesh.gateway!.url;
    await mapBounded(cases, 8, async (c) => {
      try {
        if (c.raw !== undefined) {
          answers.set(c.name, await rawExchange(gw, c.raw));
          return;
        }
        const request = c.request!;
        const customer = !c.anonymous && request.path.startsWith("/v1/orders") && request.headers?.["authorization"] === undefined;
        const headers = customer ? { authorization: `Bearer ${alice}`, ...request.headers } : request.headers;
        answers.set(c.name, await httpRequest(gw, { ...request, ...(headers === undefined ? {} : { headers }) }));
      } catch (err) {
        answers.set(c.name, err as Error);
      }
    });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("has at least 300 distinct cases", () => {
    expect(new Set(cases.map((c) => c.name)).size).to.equal(cases.length);
    expect(cases.length).to.be.at.least(300);
  });

  it("never gets a 5xx from the gateway", () => {
    const serverErrors = [...answers].filter(([, a]) => !(a instanceof Error) && a.status >= 500).map(([name, a]) => `${name}: ${(a as RawResponse).status} ${(a as RawResponse).text.slice(0, 120)}`);
    expect(serverErrors).to.deep.equal([]);
  });

  it("answers every request with a 4xx and a JSON error body without internals", () => {
    const problems: string[] = [];
    for (const c of cases) {
      const answer = answers.get(c.name);
      if (answer === undefined || answer instanceof Error) {
        problems.push(`${c.name}: no answer (${answer?.message ?? "missing"})`);
        continue;
      }
      if (answer.status < 400 || answer.status > 499) {
        problems.push(`${c.name}: status ${answer.status} ${answer.text.slice(0, 120)}`);
        continue;
      }
      const problem = errorShapeProblem(answer);
      if (problem !== undefined) {
        problems.push(`${c.name}: ${answer.status} ${problem}`);
      }
    }
    expect(problems, `${problems.length} of ${cases.length} cases:\n${problems.join("\n")}`).to.deep.equal([]);
  });

  it("keeps the gateway alive and healthy", async () => {
    const health = await httpRequest(mesh.gateway!.url, { path: "/healthz" });
    expect(health.status).to.equal(200);
    expect(health.json).to.deep.equal({ status: "SERVING" });
    expect(mesh.gateway!.child.exitCode).to.equal(null);
    expect(mesh.gateway!.child.signalCode).to.equal(null);
    const items = await httpRequest(mesh.gateway!.url, { path: "/v1/inventory/items/MUG-001" });
    expect(items.status).to.equal(200);
  });

  it("created no order", async () => {
    const list = await httpRequest(mesh.gateway!.url, { path: "/v1/orders", headers: { authorization: `Bearer ${alice}` } });
    expect(list.status, list.text).to.equal(200);
    expect((list.json as { orders?: unknown[] }).orders ?? []).to.deep.equal([]);
    const db = new Database(path.join(mesh.dataDir, "orders.db"), { readonly: true, fileMustExist: true });
    try {
      expect((db.prepare("SELECT COUNT(*) AS n FROM orders").get() as { n: number }).n).to.equal(0);
    } finally {
      db.close();
    }
  });
});
