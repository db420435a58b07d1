import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetItemResponseSchema,
  InventoryService,
  ItemSchema,
  ListItemsResponseSchema,
  type Item as ProtoItem,
} from "../../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import type { Inventory } from "./inventory.js";
import type { Item } from "./model.js";
import { moneyFromMinor } from "./money-from-minor.js";

/**
 * meshwork.inventory.v2alpha1.InventoryService on the same inventory domain
 * as v1 (one catalogue, one store): it only maps domain to the v2alpha1
 * messages, so both versions always read the same items and stock. Requests
 * arrive already validated by the mesh (protovalidate).
 */
export function createInventoryV2alpha1Handler(inventory: Inventory): ServiceImpl<typeof InventoryService> {
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
  };
}

function toProtoItem(item: Item): ProtoItem {
  return create(ItemSchema, {
    sku: item.sku,
    name: item.name,
    description: item.description,
    price: { currencyCode: item.currencyCode, ...moneyFromMinor(item.priceMinor, item.currencyCode) },
    stock: { available: item.stock.available, reserved: item.stock.reserved, sold: item.stock.sold },
  });
}
