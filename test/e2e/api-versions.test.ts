import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { InventoryService as V1 } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { InventoryService as V2alpha1 } from "../../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import { httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { TestClients } from "../support/test-identity.js";
import { testTls } from "../support/test-identity.js";

const run = promisify(execFile);
const buf = path.resolve(import.meta.dirname, "../../node_modules/.bin/buf");

/** v1's item as proto3 JSON (int64 as a decimal string; zero values left out). */
interface V1ItemJson {
  sku: string;
  priceMinor?: string;
  currencyCode?: string;
  available?: number;
  reserved?: number;
  sold?: number;
}

/** v2alpha1's item as proto3 JSON. */
interface V2alpha1ItemJson {
  sku: string;
  price?: { currencyCode?: string; units?: string; nanos?: number };
  stock?: { available?: number; reserved?: number; sold?: number };
}

/**
 * The versioning policy, on real processes: the inventory service serves the
 * stable v1 and the incompatible v2alpha1 side by side over one catalogue, and
 * the gateway routes both. The same item read through either version, by gRPC
 * or by REST, is the same item.
 */
describe("API versions side by side, real processes", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let gw: string;
  let clients: TestClients;
  before(async () => {
    mesh = await startMesh({ gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000" } });
    gw = mesh.gateway!.url;
    clients = new TestClients();
    // Move some stock out of available so that every bucket is compared, not only the seed.
    const v1 = clients.client(V1, mesh.inventory.url);
    await v1.reserveStock({ orderId: "versions-1", lines: [{ sku: "MUG-001", quantity: 3 }] });
    await v1.reserveStock({ orderId: "versions-2", lines: [{ sku: "MUG-001", quantity: 2 }] });
    await v1.commitReservation({ orderId: "versions-2" });
  });
  after(async () => {
    clients?.close();
    await mesh?.stop();
  });

  async function getJson<T>(urlPath: string): Promise<T> {
    const response = await httpRequest(gw, { path: urlPath });
    expect(response.status, `${urlPath}: ${response.text}`).to.equal(200);
    return response.json as T;
  }

  it("reads the same item through v1 and v2alpha1 by gRPC", async () => {
    const v1 = (await clients.client(V1, mesh.inventory.url).getItem({ sku: "MUG-001" })).item!;
    const v2 = (await clients.client(V2alpha1, mesh.inventory.url).getItem({ sku: "MUG-001" })).item!;
    expect(v1).to.include({ sku: "MUG-001", priceMinor: 1400n, currencyCode: "USD", available: 95, reserved: 3, sold: 2 });
    expect(v2).to.include({ sku: v1.sku, name: v1.name, description: v1.description });
    expect(v2.price).to.include({ currencyCode: "USD", units: 14n, nanos: 0 });
    expect(v2.stock).to.include({ available: v1.available, reserved: v1.reserved, sold: v1.sold });
  });

  it("reads the same item through v1 and v2alpha1 by REST through the gateway", async () => {
    const v1 = (await getJson<{ item: V1ItemJson }>("/v1/inventory/items/MUG-001")).item;
    const v2 = (await getJson<{ item: V2alpha1ItemJson }>("/v2alpha1/inventory/items/MUG-001")).item;
    expect(v1).to.include({ sku: "MUG-001", priceMinor: "1400", currencyCode: "USD", available: 95, reserved: 3, sold: 2 });
    expect(v2.sku).to.equal(v1.sku);
    // proto3 JSON leaves out nanos when it is 0.
    expect({ nanos: 0, ...v2.price }).to.deep.equal({ currencyCode: "USD", units: "14", nanos: 0 });
    expect(v2.stock).to.deep.equal({ available: v1.available, reserved: v1.reserved, sold: v1.sold });
  });

  it("lists the same catalogue through both versions, by REST and by Connect through the gateway", async () => {
    const v1 = await getJson<{ items: V1ItemJson[] }>("/v1/inventory/items?pageSize=100");
    const v2 = await getJson<{ items: V2alpha1ItemJson[] }>("/v2alpha1/inventory/items?pageSize=100");
    expect(v2.items.map((item) => item.sku)).to.deep.equal(v1.items.map((item) => item.sku)).and.have.length.at.least(8);
    for (const [index, old] of v1.items.entries()) {
      const item = v2.items[index]!;
      expect(BigInt(item.price?.units ?? "0") * 100n + BigInt((item.price?.nanos ?? 0) / 10_000_000), old.sku).to.equal(BigInt(old.priceMinor ?? "0"));
      expect(item.price?.currencyCode, old.sku).to.equal(old.currencyCode);
    }

    const connect = createClient(V2alpha1, createConnectTransport({ baseUrl: gw, httpVersion: "1.1" }));
    const page = await connect.listItems({ pageSize: 100 });
    expect(page.items.map((item) => item.sku)).to.deep.equal(v1.items.map((item) => item.sku));
  });

  it("validates v2alpha1 requests by the same rules as v1", async () => {
    for (const version of ["v1", "v2alpha1"]) {
      const response = await httpRequest(gw, { path: `/${version}/inventory/items?pageSize=1000` });
      expect(response.status, version).to.equal(400);
      expect((response.json as { code: string }).code, version).to.equal("invalid_argument");
      expect((await httpRequest(gw, { path: `/${version}/inventory/items/NOPE-404` })).status, version).to.equal(404);
    }
  });

  it("lists both versions on the inventory port by reflection (buf curl)", async () => {
    // As the gateway, which v2alpha1's contract lets call.
    const tls = await testTls("gateway");
    const curl = ["curl", "--protocol", "grpc", "--cert", tls.certFile, "--key", tls.keyFile, "--cacert", tls.caFile, "--servername", "inventory.meshwork.local"];
    const { stdout } = await run(buf, [...curl, "--list-services", mesh.inventory.url]);
    expect(stdout.trim().split("\n")).to.include.members([V1.typeName, V2alpha1.typeName]);
    const { stdout: item } = await run(buf, [
      ...curl,
      "--data", JSON.stringify({ sku: "MUG-001" }),
      `${mesh.inventory.url}/${V2alpha1.typeName}/GetItem`,
    ]);
    expect((JSON.parse(item) as { item: V2alpha1ItemJson }).item.price).to.include({ currencyCode: "USD", units: "14" });
  });

  it("documents both versions' routes in /openapi.json", async () => {
    const document = await getJson<{ paths: Record<string, Record<string, { operationId: string }>> }>("/openapi.json");
    expect(document.paths).to.include.keys(
      "/v1/inventory/items",
      "/v1/inventory/items/{sku}",
      "/v2alpha1/inventory/items",
      "/v2alpha1/inventory/items/{sku}",
    );
    expect(document.paths["/v2alpha1/inventory/items/{sku}"]).to.have.key("get");
    expect(document.paths["/v2alpha1/inventory/items/{sku}"]!.get!.operationId).to.not.equal(document.paths["/v1/inventory/items/{sku}"]!.get!.operationId);
  });
});
