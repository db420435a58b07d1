import type { Logger } from "pino";
import type { StoreLocation } from "../../mesh/index.js";
import type { OrderStore } from "./order-store.js";
import { openPostgresOrderStore } from "./postgres-store.js";
import { openSqliteOrderStore } from "./sqlite-store.js";

export interface OpenOrderStoreOptions {
  /** Called after a write that recorded order events has committed, to wake the outbox relay. */
  readonly onEventsCommitted?: () => void;
  readonly logger?: Logger;
}

/** The order store at `location`: SQLite (the embedded default) or PostgreSQL. */
export async function openOrderStore(location: StoreLocation, options: OpenOrderStoreOptions = {}): Promise<OrderStore> {
  return location.engine === "sqlite" ? openSqliteOrderStore(location.path, options) : openPostgresOrderStore(location.url, options);
}
