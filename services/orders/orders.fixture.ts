import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createOrderDomain, type OrderDomainOptions } from "./domain.js";
import { FakeUpstreams } from "./fake-upstreams.fixture.js";
import type { ItemQuote } from "./ports.js";
import { openSqliteOrderStore, type SqliteOrderStore } from "./sqlite-store.js";

/** A real orders database in a fresh temporary directory. */
export function openTempStore(): { store: SqliteOrderStore; path: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), "orders-"));
  const path = join(dir, "orders.db");
  const temp = {
    /** Replaceable, e.g. by a reopened store: dispose closes whichever is here. */
    store: openSqliteOrderStore(path),
    path,
    dispose() {
      temp.store.close();
      rmSync(dir, { recursive: true, force: true });
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

/** The orders domain over a real temporary database and fake upstreams. */
export function ordersFixture(options: OrderDomainOptions = {}) {
  const temp = openTempStore();
  const upstreams = new FakeUpstreams([...catalogue]);
  const domain = createOrderDomain(
    { store: temp.store, inventory: upstreams.inventoryPort, payments: upstreams.paymentsPort },
    { retryBackoffMs: 0, now: steppingClock(), ...options },
  );
  return { ...temp, upstreams, domain };
}
