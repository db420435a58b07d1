import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionAlpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { GetItemRequestSchema, InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory, type TransportKind } from "../client/client-factory.js";
import { createLogger } from "../logger.js";
import { grpcFrame, rawHttp2Post } from "../../test/support/raw-grpc.js";
import { registration, serve, type MeshServer } from "./serve.js";

const logger = createLogger("serve-test", "silent");

/** A test implementation: GetItem echoes the SKU; special SKUs misbehave on purpose. */
function startServer(gracePeriodMs = 2000): Promise<MeshServer> {
  return serve({
    port: 0,
    logger,
    gracePeriodMs,
    services: [
      registration(InventoryService, {
        async getItem(req, ctx) {
          if (req.sku === "BOOM") {
            throw new Error("secret database password is hunter2");
          }
          if (req.sku.startsWith("SLOW-")) {
            await new Promise((resolve) => setTimeout(resolve, Number(req.sku.slice(5))));
          }
          ctx.responseHeader.set("x-echo", ctx.requestHeader.get("x-echo") ?? "");
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

describe("serve", () => {
  let server: MeshServer;
  let clients: ClientFactory;
  beforeEach(async () => {
    server = await startServer();
    clients = new ClientFactory();
  });
  afterEach(async () => {
    clients.close();
    await server.shutdown();
  });

  const protocols: [string, () => Client<typeof InventoryService>][] = [
    ["gRPC (fast path)", () => clients.client(InventoryService, { endpoints: server.url, transport: "grpc" })],
    ["Connect over HTTP/2", () => clients.client(InventoryService, { endpoints: server.url, transport: "connect" as TransportKind })],
    ["gRPC-Web over HTTP/1.1", () => createClient(InventoryService, createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }))],
  ];

  for (const [name, makeClient] of protocols) {
    describe(name, () => {
      it("answers a call and carries headers both ways", async () => {
        let header: Headers | undefined;
        const res = await makeClient().getItem(
          { sku: "MUG-001" },
          { headers: { "x-echo": "hello" }, onHeader: (h) => (header = h) },
        );
        expect(res.item?.sku).to.equal("MUG-001");
        expect(header?.get("x-echo")).to.equal("hello");
      });

      it("rejects an invalid request with InvalidArgument and the violations", async () => {
        const err = await makeClient().getItem({ sku: "not a sku" }).then(
          () => expect.fail("expected an error"),
          (e: unknown) => ConnectError.from(e),
        );
        expect(err.code).to.equal(Code.InvalidArgument);
        expect(err.rawMessage).to.contain("sku");
        const [violations] = err.findDetails(ViolationsSchema);
        expect(violations?.violations[0]?.ruleId).to.equal("string.pattern");
        expect(violations?.violations[0]?.field?.elements[0]?.fieldName).to.equal("sku");
      });

      it("turns an unexpected throw into Internal without its message", async () => {
        const err = await makeClient().getItem({ sku: "BOOM" }).then(
          () => expect.fail("expected an error"),
          (e: unknown) => ConnectError.from(e),
        );
        expect(err.code).to.equal(Code.Internal);
        expect(err.rawMessage).to.equal("internal error");
        expect(err.message).not.to.contain("hunter2");
      });

      it("fails a call past its deadline with DeadlineExceeded", async () => {
        const err = await makeClient().getItem({ sku: "SLOW-500" }, { timeoutMs: 50 }).then(
          () => expect.fail("expected an error"),
          (e: unknown) => ConnectError.from(e),
        );
        expect(err.code).to.equal(Code.DeadlineExceeded);
      });
    });
  }

  // The server enforces the deadline a request carries: a raw HTTP/2 client
  // with no timer of its own sends grpc-timeout 200m for a call that takes
  // 5 s, and is answered DeadlineExceeded (4) by the server — on the fast
  // path (binary) and on connect-node's path (JSON) alike.
  for (const [name, contentType, message] of [
    ["the fast path", "application/grpc", toBinary(GetItemRequestSchema, create(GetItemRequestSchema, { sku: "SLOW-5000" }))],
    ["connect-node's path", "application/grpc+json", Buffer.from(toJsonString(GetItemRequestSchema, create(GetItemRequestSchema, { sku: "SLOW-5000" })))],
  ] as const) {
    it(`enforces a grpc-timeout itself on ${name}, with no client timer`, async () => {
      const answer = await rawHttp2Post(
        server.url,
        "/meshwork.inventory.v1.InventoryService/GetItem",
        { "content-type": contentType, te: "trailers", "grpc-timeout": "200m" },
        grpcFrame(message),
      );
      expect(answer.status).to.equal(200);
      expect(answer.grpcStatus, answer.grpcMessage).to.equal(Code.DeadlineExceeded);
    });
  }

  it("reports health per service and overall, and NotFound for an unknown service", async () => {
    const health = clients.client(Health, server.url);
    expect((await health.check({ service: "" })).status).to.equal(Status.SERVING);
    expect((await health.check({ service: "meshwork.inventory.v1.InventoryService" })).status).to.equal(Status.SERVING);
    const err = await health.check({ service: "nope.Service" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).to.be.instanceOf(ConnectError);
    expect((err as ConnectError).code).to.equal(Code.NotFound);
  });

  it("streams health changes to a watcher", async () => {
    const health = clients.client(Health, server.url);
    const seen: Status[] = [];
    const abort = new AbortController();
    const stream = health.watch({ service: "meshwork.inventory.v1.InventoryService" }, { signal: abort.signal });
    for await (const res of stream) {
      seen.push(res.status);
      if (seen.length === 1) {
        server.health.set("meshwork.inventory.v1.InventoryService", Status.NOT_SERVING);
      } else {
        break;
      }
    }
    abort.abort();
    expect(seen).to.deep.equal([Status.SERVING, Status.NOT_SERVING]);
  });

  for (const [version, service] of [["v1", ServerReflection], ["v1alpha", ServerReflectionAlpha]] as const) {
    it(`serves reflection ${version}: services and the files that define them`, async () => {
      const reflection = clients.client(service as typeof ServerReflection, server.url);
      async function* requests() {
        yield { messageRequest: { case: "listServices" as const, value: "" } };
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "meshwork.inventory.v1.InventoryService.GetItem" } };
        yield { messageRequest: { case: "fileByFilename" as const, value: "no/such.proto" } };
      }
      const answers = [];
      for await (const res of reflection.serverReflectionInfo(requests())) {
        answers.push(res.messageResponse);
      }
      const [list, file, missing] = answers;
      expect(list?.case).to.equal("listServicesResponse");
      const names = list?.case === "listServicesResponse" ? list.value.service.map((s) => s.name) : [];
      expect(names).to.include.members([
        "meshwork.inventory.v1.InventoryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);
      expect(file?.case).to.equal("fileDescriptorResponse");
      // The file itself plus its imports (validate, annotations, timestamp, ...).
      expect(file?.case === "fileDescriptorResponse" && file.value.fileDescriptorProto.length).to.be.greaterThan(3);
      expect(missing?.case).to.equal("errorResponse");
    });
  }
});

describe("serve shutdown", () => {
  it("goes NOT_SERVING, lets an in-flight call finish, then refuses new connections", async () => {
    const server = await startServer(5000);
    const clients = new ClientFactory();
    const client = clients.client(InventoryService, server.url);
    await client.getItem({ sku: "WARM" });
    const inFlight = client.getItem({ sku: "SLOW-300" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopped = server.shutdown();
    expect(server.health.get("")).to.equal(Status.NOT_SERVING);
    expect((await inFlight).item?.sku).to.equal("SLOW-300");
    await stopped;
    clients.close();
    const fresh = new ClientFactory();
    const err = await fresh.client(InventoryService, server.url).getItem({ sku: "LATE" }).catch((e: unknown) => ConnectError.from(e));
    fresh.close();
    expect((err as ConnectError).code).to.equal(Code.Unavailable);
  });

  it("cancels what is still running when the grace period ends", async () => {
    const server = await startServer(100);
    const clients = new ClientFactory();
    const client = clients.client(InventoryService, server.url);
    const inFlight = client.getItem({ sku: "SLOW-3000" }).catch((e: unknown) => ConnectError.from(e));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.shutdown();
    const err = await inFlight;
    clients.close();
    expect(err).to.be.instanceOf(ConnectError);
    expect((err as ConnectError).code).to.equal(Code.Unavailable);
  });
});
