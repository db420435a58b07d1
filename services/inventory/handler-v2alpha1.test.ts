import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { expect } from "chai";
import {
  GetItemRequestSchema as V1GetItemRequestSchema,
  InventoryService as V1InventoryService,
  ListItemsRequestSchema as V1ListItemsRequestSchema,
  ReserveStockRequestSchema,
} from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import {
  GetItemRequestSchema,
  GetItemResponseSchema,
  InventoryService,
  ListItemsRequestSchema,
  ListItemsResponseSchema,
  type GetItemResponse,
  type ListItemsResponse,
} from "../../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import { Code, ConnectError, reasonOf } from "../../mesh/errors.js";
import { createInventoryV2alpha1Handler } from "./handler-v2alpha1.js";
import { createInventoryHandler } from "./handler.js";
import { Inventory } from "./inventory.js";
import { openSqliteInventoryStore, type SqliteInventoryStore } from "./sqlite-store.js";

const now = Date.parse("2030-01-01T00:00:00Z");

describe("createInventoryV2alpha1Handler", () => {
  let dir: string;
  let store: SqliteInventoryStore;
  let v1: ReturnType<typeof createInventoryHandler>;
  let handler: ReturnType<typeof createInventoryV2alpha1Handler>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "inventory-handler-v2alpha1-"));
    store = openSqliteInventoryStore(join(dir, "inventory.db"));
    // One domain behind both versions, as in main.ts.
    const inventory = new Inventory({ store, now: () => now });
    v1 = createInventoryHandler(inventory);
    handler = createInventoryV2alpha1Handler(inventory);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function context(service: typeof InventoryService | typeof V1InventoryService, method: "getItem" | "listItems" | "reserveStock"): HandlerContext {
    const desc = service.methods.find((m) => m.localName === method)!;
    return createHandlerContext({
      service,
      method: desc,
      protocolName: "connect",
      requestMethod: "POST",
      url: `http://localhost/${service.typeName}/${desc.name}`,
    });
  }

  // ServiceImpl allows init shapes as results; these make them whole messages.
  async function getItem(sku: string): Promise<GetItemResponse> {
    return create(GetItemResponseSchema, await handler.getItem(create(GetItemRequestSchema, { sku }), context(InventoryService, "getItem")));
  }
  async function listItems(pageSize: number, pageToken = ""): Promise<ListItemsResponse> {
    const request = create(ListItemsRequestSchema, { pageSize, pageToken });
    return create(ListItemsResponseSchema, await handler.listItems(request, context(InventoryService, "listItems")));
  }

  it("maps the price to Money and the stock to a StockLevel", async () => {
    const response = await getItem("MUG-001");
    expect(response.item).to.include({ sku: "MUG-001", name: "Mug", description: "Stoneware mug, 350 ml, dishwasher safe." });
    expect(response.item?.price).to.include({ currencyCode: "USD", units: 14n, nanos: 0 });
    expect(response.item?.stock).to.include({ available: 100, reserved: 0, sold: 0 });
  });

  it("reads the same stock as v1, including what v1 reserved", async () => {
    await v1.reserveStock(
      create(ReserveStockRequestSchema, { orderId: "order-1", lines: [{ sku: "TEE-001", quantity: 3 }] }),
      context(V1InventoryService, "reserveStock"),
    );
    const old = (await v1.getItem(create(V1GetItemRequestSchema, { sku: "TEE-001" }), context(V1InventoryService, "getItem"))).item!;
    const item = (await getItem("TEE-001")).item!;
    expect(item.stock).to.include({ available: old.available, reserved: old.reserved, sold: old.sold });
    expect(item.stock).to.include({ available: 47, reserved: 3, sold: 0 });
    expect(item.price!.units * 100n + BigInt(item.price!.nanos / 10_000_000)).to.equal(old.priceMinor);
  });

  it("pages like v1, with tokens either version accepts", async () => {
    const first = await listItems(2);
    const old = await v1.listItems(create(V1ListItemsRequestSchema, { pageSize: 2 }), context(V1InventoryService, "listItems"));
    expect(first.items.map((item) => item.sku)).to.deep.equal(old.items?.map((item) => item.sku));
    expect(first.nextPageToken).to.equal(old.nextPageToken).and.not.equal("");

    const next = await listItems(2, first.nextPageToken);
    const all = await listItems(0);
    expect(next.items.map((item) => item.sku)).to.deep.equal(all.items.slice(2, 4).map((item) => item.sku));
    expect(all.items.every((item) => item.price?.currencyCode === "USD" && item.stock !== undefined)).to.equal(true);
  });

  it("passes a domain failure through with its code", async () => {
    const err = await getItem("NOPE-404").then(
      () => expect.fail("the call should fail"),
      (reason: unknown) => reason,
    );
    expect(err).to.be.instanceOf(ConnectError);
    expect((err as ConnectError).code).to.equal(Code.NotFound);
    const garbage = await listItems(0, "garbage!").then(
      () => expect.fail("the call should fail"),
      (reason: unknown) => reason as ConnectError,
    );
    expect(reasonOf(garbage)).to.equal("INVALID_PAGE_TOKEN");
  });
});
