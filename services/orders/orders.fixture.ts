import { freshStore, type FreshStore, type StoreEngine } from "../../test/support/store-engines.js";
import { createOrderDomain, type OrderDomainOptions } from "./domain.js";
import { FakeUpstreams } from "./fake-upstreams.fixture.js";
import { openOrderStore } from "./open-store.js";
import type { OrderStore } from "./order-store.js";
import type { ItemQuote } from "./ports.js";

/** A real orders database, new and empty, on `engine`. */
export async function openTempStore(
  engine: StoreEngine = "sqlite",
): Promise<{ store: OrderStore; fresh: FreshStore; dispose(): Promise<void> }> {
  const fresh = await freshStore(engine, "orders");
  const temp = {
    /** Replaceable, e.g. by a reopened store: dispose closes whichever is here. */
    store: await openOrderStore(fresh.location),
    fresh,
    async dispose() {
      await temp.store.close();
      await fresh.dispose();
    },
  };
  return temp;
}

/** A clock that moves 1 ms per reading, so "newest first" is well defined in tests. */
export function steppingClock(start = Date.UTC(2025, 0, 1)): () => Date {
  let ms = start;
  return () => new Date(ms++);
}

export const catalogue: readonly ItemQuote[] = [
  { sku: "MUG-001", priceMinor: 1200, currencyCode: "USD", available: 10 },
  { sku: "TEE-002", priceMinor: 2500, currencyCode: "USD", available: 3 },
  { sku: "SCARF-EU", priceMinor: 1900, currencyCode: "EUR", available: 5 },
];

/** The orders domain over a real temporary database (on `engine`) and fake upstreams. */
export async function ordersFixture(options: OrderDomainOptions = {}, engine: StoreEngine = "sqlite") {
  const temp = await openTempStore(engine);
  const upstreams = new FakeUpstreams([...catalogue]);
  const domain = createOrderDomain(
    { store: temp.store, inventory: upstreams.inventoryPort, payments: upstreams.paymentsPort },
    { retryBackoffMs: 0, now: steppingClock(), ...options },
  );
  return { ...temp, upstreams, domain };
}
