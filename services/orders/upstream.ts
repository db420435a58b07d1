import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "../../mesh/errors.js";
import type { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import type { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import type { InventoryPort, PaymentsPort } from "./ports.js";

/**
 * The orders domain's ports over generated Connect clients. Upstream errors
 * pass through untouched (code and ErrorInfo reason), as the ports promise;
 * deadlines, retries and breakers belong to the mesh client the caller made.
 */

export function inventoryPort(client: Client<typeof InventoryService>): InventoryPort {
  return {
    async getItem(sku, signal) {
      const { item } = await client.getItem({ sku }, { signal });
      if (item === undefined) {
        throw malformed("GetItem returned no item");
      }
      return {
        sku: item.sku,
        priceMinor: safeNumber(item.priceMinor, "GetItem price_minor"),
        currencyCode: item.currencyCode,
        available: item.available,
      };
    },
    async reserve(orderId, lines, signal) {
      // ttl_seconds 0: the inventory service's default reservation lifetime.
      await client.reserveStock({ orderId, lines: [...lines], ttlSeconds: 0 }, { signal });
    },
    async release(orderId) {
      await client.releaseReservation({ orderId });
    },
    async commit(orderId) {
      await client.commitReservation({ orderId });
    },
  };
}

export function paymentsPort(client: Client<typeof PaymentService>): PaymentsPort {
  return {
    async authorize(request) {
      const { payment } = await client.authorizePayment({ ...request, amountMinor: BigInt(request.amountMinor) });
      if (payment === undefined) {
        throw malformed("AuthorizePayment returned no payment");
      }
      return { paymentId: payment.paymentId };
    },
    async capture(paymentId) {
      await client.capturePayment({ paymentId });
    },
    async void(paymentId) {
      await client.voidPayment({ paymentId });
    },
  };
}

/** Minor-unit amounts are carried as numbers in the domain; larger than 2^53 would lose cents. */
function safeNumber(value: bigint, what: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw malformed(`${what} ${value} is out of range`);
  }
  return number;
}

function malformed(message: string): ConnectError {
  return new ConnectError(message, Code.Internal);
}
