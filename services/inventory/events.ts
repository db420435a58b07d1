import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { StockChangeCause as CauseMessage, StockLevelChangedSchema } from "../../gen/meshwork/inventory/v1/events_pb.js";
import { createEnvelope } from "../../mesh/events/index.js";
import type { Stock, StockChange, StockChangeCause } from "./model.js";

/** The stream inventory publishes to; each event's subject is its SKU. */
export const inventoryStream = "inventory";

const source = "meshwork.inventory";

const causeMessages: Record<StockChangeCause, CauseMessage> = {
  RESERVED: CauseMessage.RESERVED,
  RELEASED: CauseMessage.RELEASED,
  COMMITTED: CauseMessage.COMMITTED,
  EXPIRED: CauseMessage.EXPIRED,
  ADJUSTED: CauseMessage.ADJUSTED,
};

/** StockLevelChanged for `sku` at the levels `after` the change: domain -> proto. */
export function stockLevelChangedEnvelope(sku: string, after: Stock, change: StockChange): Envelope {
  return createEnvelope(
    StockLevelChangedSchema,
    {
      sku,
      available: BigInt(after.available),
      reserved: BigInt(after.reserved),
      cause: causeMessages[change.cause],
      orderId: change.orderId ?? "",
    },
    { source, subject: sku },
  );
}
