import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { GetItemRequestSchema, GetItemResponseSchema, InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { grpcFrame, rawHttp2Post } from "../../test/support/raw-grpc.js";
import { createLogger } from "../logger.js";
import { meshNodeAdapter } from "./mesh-node-adapter.js";
import { registration, serve, type MeshServer } from "./serve.js";

const getItem = "/meshwork.inventory.v1.InventoryService/GetItem";
const watch = "/grpc.health.v1.Health/Watch";
const message = toBinary(GetItemRequestSchema, create(GetItemRequestSchema, { sku: "MUG-001" }));
/** Bytes that are no GetItemRequest: field 1 says 2^63 bytes follow. */
const notAMessage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
/** A gzip stream cut short: zlib's "unexpected end of file". */
const cutGzip = gzipSync(message).subarray(0, 8);
/** Found by the fuzzer (test/fuzz/): V8's JSON parse error on this names a lone surrogate, which connect-node could not put in grpc-message and so never answered. */
const jsonWithAstralCharacter = Buffer.from("CgrwnYWX8J2FpSQmCwE=", "base64");

interface Answer {
  readonly status: number;
  readonly code: number | undefined;
  readonly message: string;
}

/** One HTTP/1.1 POST (Connect or gRPC-Web) with these exact bytes. */
function post1(base: string, path: string, headers: Record<string, string>, body: Uint8Array): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: "POST", headers, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", reject);
    req.end(body);
  });
}

async function connect(base: string, headers: Record<string, string>, body: Uint8Array): Promise<Answer> {
  const answer = await post1(base, getItem, headers, body);
  const json = JSON.parse(answer.body.toString("utf8")) as { code: string; message?: string };
  const code = Object.values(Code).find((c) => typeof c === "number" && Code[c].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase() === json.code);
  return { status: answer.status, code: code as number | undefined, message: json.message ?? "" };
}

async function grpcWeb(base: string, path: string, headers: Record<string, string>, body: Uint8Array): Promise<Answer> {
  const answer = await post1(base, path, { "content-type": "application/grpc-web+proto", ...headers }, body);
  let text = "";
  if (answer.headers["grpc-status"] !== undefined) {
    text = `grpc-status: ${String(answer.headers["grpc-status"])}\r\ngrpc-message: ${String(answer.headers["grpc-message"] ?? "")}\r\n`;
  }
  for (let at = 0; at + 5 <= answer.body.length; at += 5 + answer.body.readUInt32BE(at + 1)) {
    if ((answer.body[at]! & 0x80) !== 0) {
      text = answer.body.subarray(at + 5, at + 5 + answer.body.readUInt32BE(at + 1)).toString("latin1");
    }
  }
  const status = /^grpc-status: *(\d+)/m.exec(text)?.[1];
  return { status: answer.status, code: status === undefined ? undefined : Number(status), message: decodeURIComponent(/^grpc-message: *(.*)\r$/m.exec(text)?.[1] ?? "") };
}

async function grpc(base: string, path: string, headers: Record<string, string>, body: Uint8Array): Promise<Answer> {
  const answer = await rawHttp2Post(base, path, { te: "trailers", ...headers }, body);
  return { status: answer.status, code: answer.grpcStatus, message: answer.grpcMessage ?? "" };
}

function start(grpcFastPath: boolean): Promise<MeshServer> {
  return serve({
    port: 0,
    logger: createLogger("mesh-node-adapter", "silent"),
    grpcFastPath,
    services: [
      registration(InventoryService, {
        getItem: (req) => {
          if (req.sku === "BOOM") {
            throw new ConnectError("the handler failed", Code.Internal);
          }
          return { item: create(ItemSchema, { sku: req.sku, name: "Test item", available: 3 }) };
        },
        listItems: () => ({ items: [] }),
        reserveStock: () => ({}),
        releaseReservation: () => ({}),
        commitReservation: () => ({}),
        adjustStock: () => ({}),
      }),
    ],
  });
}

/**
 * A request whose bytes cannot be read is the client's error, on every
 * protocol a service serves (and the gateway's passthrough, which uses the
 * same adapter): InvalidArgument, never Internal, and always answered.
 * Regression cases of the fuzzing suite (test/fuzz/), over real sockets.
 */
describe("meshNodeAdapter: unreadable requests are InvalidArgument", () => {
  let server: MeshServer;
  let fast: MeshServer;
  before(async () => {
    [server, fast] = await Promise.all([start(false), start(true)]);
  });
  after(async () => {
    await Promise.all([server?.shutdown(), fast?.shutdown()]);
  });

  it("Connect binary: a message that does not parse -> 400 invalid_argument", async () => {
    const answer = await connect(server.url, { "content-type": "application/proto" }, notAMessage);
    expect([answer.status, answer.code], answer.message).to.deep.equal([400, Code.InvalidArgument]);
  });

  it("Connect binary: a gzip body cut short -> 400 invalid_argument", async () => {
    const answer = await connect(server.url, { "content-type": "application/proto", "content-encoding": "gzip" }, cutGzip);
    expect([answer.status, answer.code], answer.message).to.deep.equal([400, Code.InvalidArgument]);
  });

  it("gRPC-Web: a message that does not parse -> invalid_argument", async () => {
    const answer = await grpcWeb(server.url, getItem, {}, grpcFrame(notAMessage));
    expect([answer.status, answer.code], answer.message).to.deep.equal([200, Code.InvalidArgument]);
  });

  it("gRPC-Web: the compressed flag without grpc-encoding -> invalid_argument", async () => {
    const answer = await grpcWeb(server.url, getItem, {}, grpcFrame(message, 1));
    expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
  });

  it("gRPC-Web JSON: a body V8's parse error quotes a lone surrogate of -> answered invalid_argument", async () => {
    const answer = await grpcWeb(server.url, getItem, { "content-type": "application/grpc-web+json" }, grpcFrame(jsonWithAstralCharacter));
    expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
  });

  for (const [name, base] of [["connect-node", () => server.url], ["fast path", () => fast.url]] as const) {
    it(`gRPC (${name}): a message that does not parse -> invalid_argument`, async () => {
      const answer = await grpc(base(), getItem, { "content-type": "application/grpc" }, grpcFrame(notAMessage));
      expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
    });

    it(`gRPC (${name}): the compressed flag with grpc-encoding identity -> invalid_argument`, async () => {
      const answer = await grpc(base(), getItem, { "content-type": "application/grpc", "grpc-encoding": "identity" }, grpcFrame(message, 1));
      expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
    });
  }

  it("gRPC: a gzip frame cut short -> invalid_argument", async () => {
    const answer = await grpc(server.url, getItem, { "content-type": "application/grpc", "grpc-encoding": "gzip" }, grpcFrame(cutGzip, 1));
    expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
  });

  it("gRPC: an unknown grpc-encoding stays unimplemented (gRPC's compression.md)", async () => {
    const answer = await grpc(server.url, getItem, { "content-type": "application/grpc", "grpc-encoding": "snappy-2000" }, grpcFrame(message, 1));
    expect(answer.code, answer.message).to.equal(Code.Unimplemented);
  });

  it("gRPC JSON (the fuzzer's hang): a body V8's parse error quotes a lone surrogate of -> answered invalid_argument", async () => {
    for (const encoding of [{}, { "grpc-encoding": "gzip" }] as Record<string, string>[]) {
      const answer = await grpc(server.url, getItem, { "content-type": "application/grpc+json", ...encoding }, grpcFrame(jsonWithAstralCharacter));
      expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
    }
  });

  it("a server stream (Health.Watch): a request that does not parse -> invalid_argument", async () => {
    const answer = await grpc(server.url, watch, { "content-type": "application/grpc" }, grpcFrame(Buffer.from([0x0a, 0x05, 0x61])));
    expect(answer.code, answer.message).to.equal(Code.InvalidArgument);
  });

  it("Internal from the handler stays Internal, on every protocol", async () => {
    const boom = toBinary(GetItemRequestSchema, create(GetItemRequestSchema, { sku: "BOOM" }));
    const viaConnect = await connect(server.url, { "content-type": "application/proto" }, boom);
    const viaGrpcWeb = await grpcWeb(server.url, getItem, {}, grpcFrame(boom));
    const viaGrpc = await grpc(server.url, getItem, { "content-type": "application/grpc" }, grpcFrame(boom));
    expect([viaConnect.status, viaConnect.code, viaGrpcWeb.code, viaGrpc.code]).to.deep.equal([500, Code.Internal, Code.Internal, Code.Internal]);
  });

  it("a well-formed call still answers OK on every protocol", async () => {
    const viaGrpcWeb = await grpcWeb(server.url, getItem, {}, grpcFrame(message));
    const viaGrpc = await grpc(server.url, getItem, { "content-type": "application/grpc" }, grpcFrame(message));
    const viaConnect = await post1(server.url, getItem, { "content-type": "application/proto" }, message);
    expect([viaGrpcWeb.code, viaGrpc.code, viaConnect.status]).to.deep.equal([0, 0, 200]);
  });
});

/**
 * A deadline further away than a Node timer reaches is lowered, not expired
 * at once (the fuzzer's grpc-timeout 99999999H answered DeadlineExceeded
 * through the gateway's passthrough, which sets no maxTimeoutMs). The
 * handler reports the deadline it got.
 */
describe("meshNodeAdapter: deadlines longer than a timer reaches", () => {
  let h1: http.Server;
  let h2: http2.Http2Server;
  let base1 = "";
  let base2 = "";
  before(async () => {
    const adapter = meshNodeAdapter({
      routes: (router) =>
        router.service(InventoryService, {
          getItem: (_req, ctx) => ({ item: create(ItemSchema, { sku: "MUG-001", name: String(ctx.timeoutMs()) }) }),
        }),
    });
    h1 = http.createServer(adapter);
    h2 = http2.createServer(adapter);
    await Promise.all([new Promise<void>((r) => h1.listen(0, "127.0.0.1", r)), new Promise<void>((r) => h2.listen(0, "127.0.0.1", r))]);
    base1 = `http://127.0.0.1:${(h1.address() as AddressInfo).port}`;
    base2 = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  });
  after(() => {
    h1?.close();
    h2?.close();
  });

  const lowered = (ms: number): boolean => ms > 24 * 24 * 3600_000 && ms <= 2 ** 31 - 1;

  it("gRPC-Web grpc-timeout 99999999H -> OK, with a deadline of about 24.8 days", async () => {
    const answer = await post1(base1, getItem, { "content-type": "application/grpc-web+proto", "grpc-timeout": "99999999H" }, grpcFrame(message));
    const item = fromBinary(GetItemResponseSchema, answer.body.subarray(5, 5 + answer.body.readUInt32BE(1)));
    expect(lowered(Number(item.item?.name)), item.item?.name).to.equal(true);
  });

  it("gRPC grpc-timeout 99999999H -> OK, with a deadline of about 24.8 days", async () => {
    const answer = await rawHttp2Post(base2, getItem, { "content-type": "application/grpc", te: "trailers", "grpc-timeout": "99999999H" }, grpcFrame(message));
    expect(answer.grpcStatus, answer.grpcMessage).to.equal(0);
    const item = fromBinary(GetItemResponseSchema, answer.body.subarray(5));
    expect(lowered(Number(item.item?.name)), item.item?.name).to.equal(true);
  });

  it("Connect connect-timeout-ms 9999999999 -> OK, with a deadline of about 24.8 days", async () => {
    const answer = await post1(base1, getItem, { "content-type": "application/proto", "connect-timeout-ms": "9999999999" }, message);
    expect(answer.status).to.equal(200);
    const item = fromBinary(GetItemResponseSchema, answer.body);
    expect(lowered(Number(item.item?.name)), item.item?.name).to.equal(true);
  });

  it("a short deadline is kept as sent", async () => {
    const answer = await post1(base1, getItem, { "content-type": "application/proto", "connect-timeout-ms": "5000" }, message);
    const ms = Number(fromBinary(GetItemResponseSchema, answer.body).item?.name);
    expect(ms).to.be.within(4000, 5000);
  });
});
