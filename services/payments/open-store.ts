import type { Logger } from "pino";
import type { StoreLocation } from "../../mesh/store/store-from-env.js";
import type { PaymentStore } from "./payment-store.js";
import { openPostgresPaymentStore } from "./postgres-store.js";
import { openSqlitePaymentStore } from "./sqlite-store.js";

/** The payment store at `location`: SQLite (the embedded default) or PostgreSQL. */
export async function openPaymentStore(location: StoreLocation, options: { logger?: Logger } = {}): Promise<PaymentStore> {
  return location.engine === "sqlite" ? openSqlitePaymentStore(location.path) : openPostgresPaymentStore(location.url, options);
}
