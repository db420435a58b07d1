// What a user would run instead of Meshwork, for bench/defaults.ts: each kind
// in its own process, so that its CPU time is its own.
//
//   PORT=<port> node --import tsx bench/support/user-baselines.ts <kind> [args]
//
// grpc-js-sqlite <db file>   a plain @grpc/grpc-js Server answering GetItem
//                            from the inventory's SQLite file: one prepared
//                            SELECT, the row made into the response.
// fastify-edge <host:port>   Fastify with a plain grpc-js client as a REST
//                            edge: GET /v1/inventory/items/:sku calls GetItem
//                            on that upstream and answers its proto3 JSON.
// raw-h2                     node:http2's stream API answering every stream
//                            with one canned gRPC GetItem response (ceiling).
// raw-http                   node:http answering every request with a canned
//                            JSON item (ceiling).
//
// Each logs {"msg":"serving","url":...} once it listens and stops on SIGTERM.
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import Fastify from "fastify";
import http from "node:http";
import http2 from "node:http2";
import {
  GetItemResponseSchema,
  InventoryService,
  type GetItemRequest,
  type GetItemResponse,
} from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { createGrpcJsClient, grpcJsServiceDefinition, type GrpcJsCallError } from "../../test/support/grpc-js-client.js";

const kinds = ["grpc-js-sqlite", "fastify-edge", "raw-h2", "raw-http"] as const;
type Kind = (typeof kinds)[number];

interface ItemRow {
  sku: string;
  name: string;
  description: string;
  price_minor: number;
  currency_code: string;
  available: number;
  reserved: number;
  sold: number;
}

/** The item as the inventory service answers it for MUG-001 as seeded, for the canned ceilings. */
const cannedItem = create(GetItemResponseSchema, {
  item: {
    sku: "MUG-001",
    name: "Mug",
    description: "Stoneware mug, 350 ml, dishwasher safe.",
    priceMinor: 1400n,
    currencyCode: "USD",
    available: 100,
  },
});

/** grpc-js status codes for HTTP, as grpc-gateway maps the common ones. */
const httpStatusOf: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

async function grpcJsSqlite(dbFile: string, port: number): Promise<() => Promise<void>> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  const findItem = db.prepare<[string], ItemRow>("SELECT * FROM items WHERE sku = ?");
  const server = new grpc.Server();
  server.addService(grpcJsServiceDefinition(InventoryService), {
    getItem: (call: grpc.ServerUnaryCall<GetItemRequest, GetItemResponse>, callback: grpc.sendUnaryData<GetItemResponse>) => {
      const row = findItem.get(call.request.sku);
      if (row === undefined) {
        callback({ code: grpc.status.NOT_FOUND, details: `no item ${call.request.sku}` });
        return;
      }
      callback(
        null,
        create(GetItemResponseSchema, {
          item: {
            sku: row.sku,
            name: row.name,
            description: row.description,
            priceMinor: BigInt(row.price_minor),
            currencyCode: row.currency_code,
            available: row.available,
            reserved: row.reserved,
            sold: row.sold,
          },
        }),
      );
    },
  });
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return () =>
    new Promise((resolve) =>
      server.tryShutdown(() => {
        db.close();
        resolve();
      }),
    );
}

async function fastifyEdge(upstream: string, port: number): Promise<() => Promise<void>> {
  const inventory = createGrpcJsClient(InventoryService, upstream);
  const app = Fastify({ logger: false });
  app.get<{ Params: { sku: string } }>("/v1/inventory/items/:sku", async (request, reply) => {
    try {
      const response = await inventory.getItem({ sku: request.params.sku }, {}, { deadlineMs: 5_000 });
      return reply.type("application/json").send(toJsonString(GetItemResponseSchema, response));
    } catch (err) {
      const code = (err as GrpcJsCallError).code as grpc.status;
      return reply.code(httpStatusOf[code] ?? 500).send({ code, message: (err as Error).message });
    }
  });
  await app.listen({ port, host: "127.0.0.1" });
  return async () => {
    await app.close();
    inventory.close();
  };
}

function rawH2(port: number): Promise<() => Promise<void>> {
  const message = toBinary(GetItemResponseSchema, cannedItem);
  const body = Buffer.alloc(message.length + 5);
  body.writeUInt32BE(message.length, 1);
  body.set(message, 5);
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.resume();
    stream.on("end", () => {
      if (stream.destroyed) {
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(body);
    });
  });
  return listen(server, port);
}

function rawHttp(port: number): Promise<() => Promise<void>> {
  const body = toJsonString(GetItemResponseSchema, cannedItem);
  const length = String(Buffer.byteLength(body));
  const server = http.createServer((req, res) => {
    req.resume();
    req.once("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": length });
      res.end(body);
    });
  });
  return listen(server, port);
}

function listen(server: http.Server | http2.Http2Server, port: number): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve(
        () =>
          new Promise((done) => {
            server.close(() => done());
            if (server instanceof http.Server) {
              server.closeAllConnections();
            }
          }),
      );
    });
  });
}

const [kind, arg] = process.argv.slice(2) as [Kind, string | undefined];
const port = Number(process.env.PORT ?? 0);
if (!kinds.includes(kind) || ((kind === "grpc-js-sqlite" || kind === "fastify-edge") && arg === undefined)) {
  console.error(`usage: PORT=<port> user-baselines.ts <${kinds.join("|")}> [db file | upstream host:port]`);
  process.exit(2);
}
const close =
  kind === "grpc-js-sqlite"
    ? await grpcJsSqlite(arg!, port)
    : kind === "fastify-edge"
      ? await fastifyEdge(arg!, port)
      : kind === "raw-h2"
        ? await rawH2(port)
        : await rawHttp(port);
console.log(JSON.stringify({ msg: "serving", url: `http://127.0.0.1:${port}` } satisfies Record<string, unknown>));
const stop = (): void => void close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
