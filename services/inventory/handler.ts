import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AdjustStockResponseSchema,
  CommitReservationResponseSchema,
  GetItemResponseSchema,
  InventoryService,
  ItemSchema,
  ListItemsResponseSchema,
  ReleaseReservationResponseSchema,
  ReservationSchema,
  ReservationState as ProtoReservationState,
  ReserveStockResponseSchema,
  type Item as ProtoItem,
  type Reservation as ProtoReservation,
} from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import type { Inventory } from "./inventory.js";
import type { Item, Reservation, ReservationState } from "./model.js";

/**
 * InventoryService on top of the inventory domain: it only maps proto to
 * domain and back. Requests arrive already validated by the mesh
 * (protovalidate), so field rules are not checked again here. Methods are
 * async so that a domain failure always reaches the caller as a rejection.
 */
export function createInventoryHandler(inventory: Inventory): ServiceImpl<typeof InventoryService> {
  return {
    async getItem(request) {
      return create(GetItemResponseSchema, { item: toProtoItem(await inventory.getItem(request.sku)) });
    },

    async listItems(request) {
      const page = await inventory.listItems(request.pageSize, request.pageToken);
      return create(ListItemsResponseSchema, {
        items: page.items.map(toProtoItem),
        nextPageToken: page.nextPageToken,
      });
    },

    async reserveStock(request) {
      const reservation = await inventory.reserve({
        orderId: request.orderId,
        lines: request.lines.map(({ sku, quantity }) => ({ sku, quantity })),
        ttlMs: request.ttlSeconds * 1000,
      });
      return create(ReserveStockResponseSchema, { reservation: toProtoReservation(reservation) });
    },

    async releaseReservation(request) {
      const reservation = await inventory.release(request.orderId);
      return create(ReleaseReservationResponseSchema, { reservation: toProtoReservation(reservation) });
    },

    async commitReservation(request) {
      const reservation = await inventory.commit(request.orderId);
      return create(CommitReservationResponseSchema, { reservation: toProtoReservation(reservation) });
    },

    async adjustStock(request) {
      const item = await inventory.adjust({
        adjustmentId: request.adjustmentId,
        sku: request.sku,
        delta: request.delta,
        reason: request.reason,
      });
      return create(AdjustStockResponseSchema, { item: toProtoItem(item) });
    },
  };
}

const protoStates: Record<ReservationState, ProtoReservationState> = {
  ACTIVE: ProtoReservationState.ACTIVE,
  COMMITTED: ProtoReservationState.COMMITTED,
  RELEASED: ProtoReservationState.RELEASED,
  EXPIRED: ProtoReservationState.EXPIRED,
};

function toProtoItem(item: Item): ProtoItem {
  return create(ItemSchema, {
    sku: item.sku,
    name: item.name,
    description: item.description,
    priceMinor: BigInt(item.priceMinor),
    currencyCode: item.currencyCode,
    available: item.stock.available,
    reserved: item.stock.reserved,
    sold: item.stock.sold,
  });
}

function toProtoReservation(reservation: Reservation): ProtoReservation {
  return create(ReservationSchema, {
    orderId: reservation.orderId,
    lines: reservation.lines.map(({ sku, quantity }) => ({ sku, quantity })),
    state: protoStates[reservation.state],
    expiresAt: timestampFromMs(reservation.expiresAtMs),
  });
}
