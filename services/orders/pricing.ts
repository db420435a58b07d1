import { Code, ConnectError, failure } from "../../mesh/errors.js";
import type { OrderLine, RequestedLine } from "./order.js";
import type { InventoryPort, ItemQuote } from "./ports.js";

/** Bulk pricing (behind the bulk-pricing flag): from this many units of one SKU... */
export const bulkPricingMinQuantity = 3;
/** ...each unit costs this much less, in percent. */
export const bulkPricingPercentOff = 10;

export interface PricingOptions {
  /** Applies bulk pricing (see bulkPricingMinQuantity). Default: false. */
  readonly bulkPricing?: boolean;
}

export interface PricedLines {
  readonly lines: OrderLine[];
  readonly totalMinor: number;
  readonly currencyCode: string;
}

/**
 * Prices every line at the inventory's current price (less bulk pricing's
 * discount when it applies) and checks that the
 * stock can meet it now. Writes nothing, so a refusal here leaves no order
 * behind. Failures are reported for the first offending line in request
 * order: an unknown SKU (NotFound), a quantity over the available stock
 * (FailedPrecondition INSUFFICIENT_STOCK), a currency other than the first
 * line's (FailedPrecondition MIXED_CURRENCY). Any other upstream failure
 * passes on with its own code.
 */
export async function priceLines(
  inventory: InventoryPort,
  lines: readonly RequestedLine[],
  signal?: AbortSignal,
  options: PricingOptions = {},
): Promise<PricedLines> {
  const settled = await Promise.allSettled(lines.map((line) => quote(inventory, line, signal)));
  const quotes = settled.map((result) => {
    if (result.status === "rejected") {
      throw result.reason;
    }
    return result.value;
  });
  const currencyCode = quotes[0]?.item.currencyCode ?? "";
  for (const { line, item } of quotes) {
    if (line.quantity > item.available) {
      throw failure(
        Code.FailedPrecondition,
        "INSUFFICIENT_STOCK",
        `only ${item.available} of ${line.sku} available, ${line.quantity} requested`,
        { metadata: { sku: line.sku, available: String(item.available), requested: String(line.quantity) } },
      );
    }
    if (item.currencyCode !== currencyCode) {
      throw failure(
        Code.FailedPrecondition,
        "MIXED_CURRENCY",
        `${line.sku} is priced in ${item.currencyCode}, an earlier line in ${currencyCode}; place one order per currency`,
        { metadata: { sku: line.sku } },
      );
    }
  }
  const priced = quotes.map(({ line, item }) => ({
    sku: line.sku,
    quantity: line.quantity,
    unitPriceMinor:
      options.bulkPricing === true && line.quantity >= bulkPricingMinQuantity
        ? Math.floor((item.priceMinor * (100 - bulkPricingPercentOff)) / 100)
        : item.priceMinor,
  }));
  const totalMinor = priced.reduce((sum, line) => sum + line.unitPriceMinor * line.quantity, 0);
  return { lines: priced, totalMinor, currencyCode };
}

async function quote(
  inventory: InventoryPort,
  line: RequestedLine,
  signal?: AbortSignal,
): Promise<{ line: RequestedLine; item: ItemQuote }> {
  try {
    return { line, item: await inventory.getItem(line.sku, signal) };
  } catch (err) {
    const upstream = ConnectError.from(err);
    if (upstream.code === Code.NotFound) {
      throw failure(Code.NotFound, "ITEM_NOT_FOUND", `no item with SKU ${line.sku}`, { metadata: { sku: line.sku }, cause: err });
    }
    throw upstream;
  }
}
