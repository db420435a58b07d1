// One server of the gRPC serving benchmark (bench/grpc-serving.ts), run as a
// child process so that its CPU time is its own:
//
//   node --import tsx bench/support/serving-target.ts <mesh|connect|grpc-js|raw>
//
// It listens on an ephemeral port of 127.0.0.1 and speaks over the IPC
// channel: it sends {type: "ready", port}, answers {type: "cpu"} with its
// process.cpuUsage() so far, and exits on {type: "stop"} or when the parent
// goes away.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  type ConnectRouter,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import {
  GetItemRequestSchema,
  GetItemResponseSchema,
  InventoryService,
  type GetItemRequest,
  type GetItemResponse,
} from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { createLogger, serve, serviceRuntime, type ServiceRegistration } from "../../mesh/index.js";
import { grpcJsServiceDefinition } from "../../test/support/grpc-js-client.js";
import { answerParent, hasParent } from "./parent-channel.js";
import { stormSku } from "./storm.js";

const targetKinds = ["mesh", "mesh-propagating", "mesh-production", "connect", "grpc-js", "raw"] as const;
/** Which server to run. Import this module's types only: importing it runs it. */
export type TargetKind = (typeof targetKinds)[number];

export type TargetMessage = { type: "ready"; port: number } | { type: "cpu"; user: number; system: number };
export type ParentMessage = { type: "cpu" } | { type: "stop" };

/** Calls for the storm SKU so far (see storm.ts). */
let stormCalls = 0;

/**
 * Whether the storm SKU's n-th call fails: one bit of a hash of n, so half of
 * the calls fail in a fixed order that looks random. (A strict alternation
 * would fail the first attempt of every call a client retries sequentially:
 * fail, succeed on the retry, fail the next call's first attempt, ...)
 */
function stormFails(n: number): boolean {
  let h = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) & 1) === 1;
}

/**
 * The one implementation every server kind serves: an item made from the
 * request, no storage, so that the benchmark measures serving only. Calls for
 * `stormSku` fail every other time with Unavailable (bench/client-stack.ts's
 * failure storm); no other SKU is affected.
 */
const inventory = {
  getItem(request: GetItemRequest, _context: HandlerContext): GetItemResponse {
    if (request.sku === stormSku && stormFails(stormCalls++)) {
      throw new ConnectError("failure storm: every other call is unavailable", Code.Unavailable);
    }
    return create(GetItemResponseSchema, {
      item: {
        sku: request.sku,
        name: "Bench mug",
        description: "A mug that exists only in memory",
        priceMinor: 1299n,
        currencyCode: "USD",
        available: 100,
        reserved: 3,
        sold: 42,
      },
    });
  },
} satisfies Partial<ServiceImpl<typeof InventoryService>>;

async function listen(kind: TargetKind): Promise<{ port: number; close: () => Promise<void> }> {
  switch (kind) {
    case "mesh":
    case "mesh-propagating": {
      // No extra interceptors: serve()'s own chain, protovalidate included.
      // "mesh" is a leaf service as inventory and payments run it; "mesh-
      // propagating" keeps the inbound-call scope orders needs for its
      // outbound calls.
      const server = await serve({
        // registration() wants every method; this implementation has one.
        services: [{ service: InventoryService, impl: inventory as unknown as ServiceRegistration["impl"] }],
        logger: createLogger("bench", "warn"),
        port: 0,
        propagateDeadlines: kind === "mesh-propagating",
      });
      return { port: server.port, close: () => server.shutdown() };
    }
    case "mesh-production": {
      // Exactly what a service main gets from serviceRuntime: info logs to
      // stdout (a pipe the parent drains), the metrics interceptor and
      // GET /metrics, tracing configured from OTEL_* (none set here: nothing
      // exported); a leaf service, as inventory and payments run. Cleartext
      // (MESH_INSECURE=1), as every other row and baseline here: what mTLS
      // adds is bench/mtls.ts's to measure.
      const runtime = serviceRuntime("bench", { LOG_LEVEL: "info", PORT: "0", MESH_INSECURE: "1" }, { defaultPort: 0 });
      const server = await runtime.serve({
        services: [{ service: InventoryService, impl: inventory as unknown as ServiceRegistration["impl"] }],
        propagateDeadlines: false,
      });
      return {
        port: server.port,
        close: async () => {
          await server.shutdown();
          await runtime.shutdown();
        },
      };
    }
    case "connect": {
      const handler = connectNodeAdapter({
        routes: (router: ConnectRouter) => router.service(InventoryService, inventory),
      });
      return listenHttp2(http2.createServer(handler));
    }
    case "grpc-js":
      return listenGrpcJs();
    case "raw":
      return listenHttp2(createRawServer());
  }
}

/**
 * The implementation ignores its context, so where we call it ourselves (the
 * grpc-js handler, the canned answer) one context built up front serves every
 * call: the baseline pays nothing for it.
 */
const sharedContext: HandlerContext = createHandlerContext({
  service: InventoryService,
  method: InventoryService.method.getItem,
  protocolName: "grpc",
  requestMethod: "POST",
  url: `/${InventoryService.typeName}/GetItem`,
});

/** A grpc-js Server from the same descriptors, its handler calling the implementation. */
async function listenGrpcJs(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new grpc.Server();
  server.addService(grpcJsServiceDefinition(InventoryService), {
    getItem: (call: grpc.ServerUnaryCall<GetItemRequest, GetItemResponse>, callback: grpc.sendUnaryData<GetItemResponse>) => {
      let response: GetItemResponse;
      try {
        response = inventory.getItem(call.request, sharedContext);
      } catch (err) {
        // Connect codes are gRPC status codes.
        const error = ConnectError.from(err);
        callback({ code: error.code as number as grpc.status, details: error.rawMessage });
        return;
      }
      callback(null, response);
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return { port, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/**
 * The floor: node:http2's stream API answering every stream with one canned
 * gRPC response (the impl's answer for the benchmark's request), no decoding.
 */
function createRawServer(): http2.Http2Server {
  const canned = inventory.getItem(create(GetItemRequestSchema, { sku: "MUG-001" }), sharedContext);
  const message = toBinary(GetItemResponseSchema, canned);
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
  return server;
}

function listenHttp2(server: http2.Http2Server): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

const kind = process.argv[2] as TargetKind;
if (!targetKinds.includes(kind) || !hasParent()) {
  console.error(`usage: run by bench/grpc-serving.ts with an IPC channel; kind one of ${targetKinds.join(", ")}`);
  process.exit(2);
}
const target = await listen(kind);
answerParent<ParentMessage>(target.port, {
  answer: (): TargetMessage => {
    const { user, system } = process.cpuUsage();
    return { type: "cpu", user, system };
  },
  close: () => target.close(),
  closeGraceMs: 2_000,
});
