import type { Logger } from "pino";
import type { StoreLocation } from "../../mesh/index.js";
import type { InventoryStore } from "./inventory-store.js";
import { openPostgresInventoryStore } from "./postgres-store.js";
import { openSqliteInventoryStore } from "./sqlite-store.js";

export interface OpenInventoryStoreOptions {
  /** Called after a transaction that recorded stock events has committed, to wake the outbox relay. */
  readonly onEventsCommitted?: () => void;
  readonly logger?: Logger;
}

/** The inventory store at `location`: SQLite (the embedded default) or PostgreSQL. */
export async function openInventoryStore(location: StoreLocation, options: OpenInventoryStoreOptions = {}): Promise<InventoryStore> {
  return location.engine === "sqlite" ? openSqliteInventoryStore(location.path, options) : openPostgresInventoryStore(location.url, options);
}
