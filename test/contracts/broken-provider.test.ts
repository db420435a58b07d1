import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { loadContract, verifyContract, type Contract } from "../../mesh/contracts/index.js";
import { Code, createLogger, reasonOf, registration, serve, type MeshServer, type ServerInterceptor } from "../../mesh/index.js";
import { failure } from "../../mesh/errors.js";
import { createInventoryHandler } from "../../services/inventory/handler.js";
import { Inventory } from "../../services/inventory/inventory.js";
import { openSqliteInventoryStore, type SqliteInventoryStore } from "../../services/inventory/sqlite-store.js";
import { contractsDir, meshworkServices } from "./support.js";

/**
 * The safety net works: the real inventory handler, served for real, with one
 * behaviour broken by a server interceptor, fails orders' contract naming the
 * consumer and the interaction that would break.
 */
describe("a provider change that breaks a consumer", function () {
  this.timeout(30_000);
  const contract: Contract = loadContract(path.join(contractsDir, "orders", "inventory.v1.json"));
  let dataDir: string;
  let store: SqliteInventoryStore;
  let server: MeshServer | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-broken-provider-"));
    store = openSqliteInventoryStore(path.join(dataDir, "inventory.db"));
  });

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
    store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function serveInventory(interceptors: ServerInterceptor[]): Promise<string> {
    server = await serve({
      services: [registration(InventoryService, createInventoryHandler(new Inventory({ store })))],
      logger: createLogger("inventory", "silent"),
      propagateDeadlines: false,
      port: 0,
      host: "127.0.0.1",
      interceptors,
    });
    return server.url;
  }

  /** Rewrites failures with `reason` into `into` (the deliberate break). */
  function rewriting(reason: string, into: () => Error): ServerInterceptor {
    return (next) => async (request, context) => {
      try {
        return await next(request, context);
      } catch (err) {
        throw reasonOf(err) === reason ? into() : err;
      }
    };
  }

  it("the unbroken provider keeps every interaction", async () => {
    const baseUrl = await serveInventory([]);
    expect(await verifyContract(contract, { baseUrl, registry: meshworkServices })).to.deep.equal([]);
  });

  it("NotFound where orders relies on FailedPrecondition INSUFFICIENT_STOCK fails naming orders and the interaction", async () => {
    const baseUrl = await serveInventory([
      rewriting("INSUFFICIENT_STOCK", () => failure(Code.NotFound, "ITEM_NOT_FOUND", "no such stock")),
    ]);
    const failures = await verifyContract(contract, { baseUrl, registry: meshworkServices });
    expect(failures.map((f) => f.message)).to.deep.equal([
      'consumer "orders" interaction "reserve more than available fails with INSUFFICIENT_STOCK": ' +
        'expected failed_precondition INSUFFICIENT_STOCK, got not_found ITEM_NOT_FOUND ("no such stock")',
    ]);
    expect(failures[0]).to.include({ consumer: "orders", interaction: "reserve more than available fails with INSUFFICIENT_STOCK" });
  });

  it("the same code with another reason fails too: orders branches on RESERVATION_EXPIRED", async () => {
    const baseUrl = await serveInventory([
      rewriting("RESERVATION_EXPIRED", () => failure(Code.FailedPrecondition, "RESERVATION_RELEASED", "gone")),
    ]);
    const failures = await verifyContract(contract, { baseUrl, registry: meshworkServices });
    expect(failures.map((f) => f.message)).to.deep.equal([
      'consumer "orders" interaction "commit an expired reservation fails with RESERVATION_EXPIRED": ' +
        'expected failed_precondition RESERVATION_EXPIRED, got failed_precondition RESERVATION_RELEASED ("gone")',
    ]);
  });

  it("fields orders reads going missing fail naming each field", async () => {
    const baseUrl = await serveInventory([
      (next) => async (request, context) => {
        const response = await next(request, context);
        if (context.method.name === "GetItem") {
          return { ...response, item: undefined } as typeof response;
        }
        return response;
      },
    ]);
    const failures = await verifyContract(contract, { baseUrl, registry: meshworkServices });
    expect(failures).to.have.length(1);
    expect(failures[0]?.message).to.equal(
      'consumer "orders" interaction "get a known item for its price, currency and stock": ' +
        "field item.sku: expected a string, got no such field; field item.priceMinor: expected an integer, got no such field; " +
        "field item.currencyCode: expected a string, got no such field; field item.available: expected an integer, got no such field",
    );
  });
});
