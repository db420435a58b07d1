import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { expect } from "chai";
import {
  AdjustStockRequestSchema,
  CommitReservationRequestSchema,
  GetItemRequestSchema,
  InventoryService,
  ListItemsRequestSchema,
  ReleaseReservationRequestSchema,
  ReservationState,
  ReserveStockRequestSchema,
} from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { Code, ConnectError, reasonMetadataOf, reasonOf } from "../../mesh/errors.js";
import { createInventoryHandler } from "./handler.js";
import { Inventory } from "./inventory.js";
import { openSqliteInventoryStore, type SqliteInventoryStore } from "./sqlite-store.js";

const now = Date.parse("2030-01-01T00:00:00Z");

describe("createInventoryHandler", () => {
  let dir: string;
  let store: SqliteInventoryStore;
  let handler: ReturnType<typeof createInventoryHandler>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "inventory-handler-"));
    store = openSqliteInventoryStore(join(dir, "inventory.db"));
    handler = createInventoryHandler(new Inventory({ store, now: () => now }));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function context(method: keyof typeof InventoryService.method): HandlerContext {
    return createHandlerContext({
      service: InventoryService,
      method: InventoryService.method[method],
      protocolName: "connect",
      requestMethod: "POST",
      url: `http://localhost/${InventoryService.typeName}/${InventoryService.method[method].name}`,
    });
  }

  async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
    const err = await promise.then(
      () => expect.fail("the call should fail"),
      (reason: unknown) => reason,
    );
    expect(err).to.be.instanceOf(ConnectError);
    return err as ConnectError;
  }

  it("maps an item with its price as int64 and its stock buckets", async () => {
    const response = await handler.getItem(create(GetItemRequestSchema, { sku: "MUG-001" }), context("getItem"));
    expect(response.item).to.include({
      sku: "MUG-001",
      name: "Mug",
      description: "Stoneware mug, 350 ml, dishwasher safe.",
      priceMinor: 1400n,
      currencyCode: "USD",
      available: 100,
      reserved: 0,
      sold: 0,
    });
  });

  it("pages with the default size and passes the token back", async () => {
    const first = await handler.listItems(create(ListItemsRequestSchema, { pageSize: 0 }), context("listItems"));
    expect(first.items?.length).to.be.at.least(8);
    expect(first.nextPageToken).to.equal("");

    const page = await handler.listItems(create(ListItemsRequestSchema, { pageSize: 2 }), context("listItems"));
    const next = await handler.listItems(
      create(ListItemsRequestSchema, { pageSize: 2, pageToken: page.nextPageToken }),
      context("listItems"),
    );
    expect(next.items?.map((item) => item.sku)).to.deep.equal(first.items?.slice(2, 4).map((item) => item.sku));
  });

  it("refuses a garbage page token with InvalidArgument", async () => {
    const err = await rejection(
      Promise.resolve(handler.listItems(create(ListItemsRequestSchema, { pageToken: "garbage!" }), context("listItems"))),
    );
    expect(err.code).to.equal(Code.InvalidArgument);
    expect(reasonOf(err)).to.equal("INVALID_PAGE_TOKEN");
  });

  it("maps a reservation with its state and expiry, the default TTL for 0", async () => {
    const lines = [
      { sku: "MUG-001", quantity: 2 },
      { sku: "TEE-001", quantity: 1 },
    ];
    const response = await handler.reserveStock(
      create(ReserveStockRequestSchema, { orderId: "order-1", lines, ttlSeconds: 0 }),
      context("reserveStock"),
    );
    expect(response.reservation?.orderId).to.equal("order-1");
    expect(response.reservation?.lines?.map(({ sku, quantity }) => ({ sku, quantity }))).to.deep.equal(lines);
    expect(response.reservation?.state).to.equal(ReservationState.ACTIVE);
    expect(response.reservation?.expiresAt).to.deep.equal(timestampFromMs(now + 15 * 60 * 1000));
  });

  it("reserves for the requested TTL in seconds", async () => {
    const response = await handler.reserveStock(
      create(ReserveStockRequestSchema, { orderId: "order-1", lines: [{ sku: "MUG-001", quantity: 1 }], ttlSeconds: 90 }),
      context("reserveStock"),
    );
    expect(response.reservation?.expiresAt).to.deep.equal(timestampFromMs(now + 90_000));
  });

  it("maps commit and release to their states", async () => {
    for (const orderId of ["order-1", "order-2"]) {
      await handler.reserveStock(
        create(ReserveStockRequestSchema, { orderId, lines: [{ sku: "MUG-001", quantity: 1 }] }),
        context("reserveStock"),
      );
    }
    const committed = await handler.commitReservation(
      create(CommitReservationRequestSchema, { orderId: "order-1" }),
      context("commitReservation"),
    );
    expect(committed.reservation?.state).to.equal(ReservationState.COMMITTED);
    const released = await handler.releaseReservation(
      create(ReleaseReservationRequestSchema, { orderId: "order-2" }),
      context("releaseReservation"),
    );
    expect(released.reservation?.state).to.equal(ReservationState.RELEASED);
  });

  it("passes a domain failure through with its code, reason and metadata", async () => {
    const err = await rejection(
      Promise.resolve(
        handler.reserveStock(
          create(ReserveStockRequestSchema, { orderId: "order-1", lines: [{ sku: "HOODIE-001", quantity: 26 }] }),
          context("reserveStock"),
        ),
      ),
    );
    expect(err.code).to.equal(Code.FailedPrecondition);
    expect(reasonOf(err)).to.equal("INSUFFICIENT_STOCK");
    expect(reasonMetadataOf(err)).to.deep.equal({ sku: "HOODIE-001", available: "25", requested: "26" });
  });

  it("maps an adjustment to the adjusted item", async () => {
    const response = await handler.adjustStock(
      create(AdjustStockRequestSchema, { sku: "CAP-001", adjustmentId: "adj-1", delta: -5, reason: "damaged" }),
      context("adjustStock"),
    );
    expect(response.item).to.include({ sku: "CAP-001", available: 30, reserved: 0, sold: 0 });
  });
});
