import { dependencyUnavailable } from "../../mesh/dependency-unavailable.js";
import { Code, ConnectError, failure } from "../../mesh/errors.js";
import type { RequestedLine } from "./order.js";
import type { AuthorizeRequest, InventoryPort, ItemQuote, PaymentsPort } from "./ports.js";

/**
 * In-memory stand-ins for the inventory and payments services, for the
 * orders domain tests only: they keep the contracts of inventory.proto and
 * payments.proto (idempotency, all-or-none reservations, the test card
 * tokens) so the saga is tested against the behaviour it relies on. The real
 * services are composed with orders in the cross-service tests under test/.
 */

type Method = "reserve" | "release" | "commit" | "authorize" | "capture" | "void";

type ReservationState = "ACTIVE" | "COMMITTED" | "RELEASED" | "EXPIRED";

export class FakeUpstreams {
  /** Every state-changing call, in order, as "method orderId-or-paymentId". */
  readonly calls: string[] = [];
  readonly items = new Map<string, ItemQuote>();
  readonly reservations = new Map<string, { lines: RequestedLine[]; state: ReservationState }>();
  readonly authorizations = new Map<
    string,
    { key: string; request: AuthorizeRequest; state: "AUTHORIZED" | "CAPTURED" | "VOIDED" }
  >();
  /** Runs at the start of every state-changing call, e.g. to look at the stored order. */
  onCall: (method: Method, id: string) => void | Promise<void> = () => {};
  private readonly failures = new Map<Method, { error: ConnectError; times: number }>();

  constructor(items: ItemQuote[]) {
    for (const item of items) {
      this.items.set(item.sku, { ...item });
    }
  }

  /** Makes the next `times` calls of `method` fail with `error` before touching any state. */
  fail(method: Method, error: ConnectError, times = Number.POSITIVE_INFINITY): void {
    this.failures.set(method, { error, times });
  }

  /** Undoes `fail`. */
  heal(method: Method): void {
    this.failures.delete(method);
  }

  expire(orderId: string): void {
    const reservation = this.reservations.get(orderId);
    if (reservation?.state === "ACTIVE") {
      this.returnStock(reservation.lines);
      reservation.state = "EXPIRED";
    }
  }

  readonly inventoryPort: InventoryPort = {
    getItem: async (sku) => {
      const item = this.items.get(sku);
      if (item === undefined) {
        throw new ConnectError(`item ${sku} not found`, Code.NotFound);
      }
      return { ...item };
    },
    reserve: async (orderId, lines) => {
      await this.enter("reserve", orderId);
      const existing = this.reservations.get(orderId);
      if (existing !== undefined) {
        if (JSON.stringify(existing.lines) !== JSON.stringify(lines)) {
          throw failure(Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED", `order ${orderId} reserved different lines`);
        }
        return;
      }
      for (const line of lines) {
        const available = this.items.get(line.sku)?.available ?? 0;
        if (line.quantity > available) {
          throw failure(Code.FailedPrecondition, "INSUFFICIENT_STOCK", `only ${available} of ${line.sku} available`);
        }
      }
      for (const line of lines) {
        this.adjust(line.sku, -line.quantity);
      }
      this.reservations.set(orderId, { lines: [...lines], state: "ACTIVE" });
    },
    release: async (orderId) => {
      await this.enter("release", orderId);
      const reservation = this.reservation(orderId);
      if (reservation.state === "COMMITTED") {
        throw failure(Code.FailedPrecondition, "RESERVATION_COMMITTED", "committed");
      }
      if (reservation.state === "ACTIVE") {
        this.returnStock(reservation.lines);
        reservation.state = "RELEASED";
      }
    },
    commit: async (orderId) => {
      await this.enter("commit", orderId);
      const reservation = this.reservation(orderId);
      if (reservation.state === "EXPIRED" || reservation.state === "RELEASED") {
        throw failure(Code.FailedPrecondition, `RESERVATION_${reservation.state}`, reservation.state.toLowerCase());
      }
      reservation.state = "COMMITTED";
    },
  };

  readonly paymentsPort: PaymentsPort = {
    authorize: async (request) => {
      await this.enter("authorize", request.orderId);
      for (const [paymentId, payment] of this.authorizations) {
        if (payment.key === request.idempotencyKey) {
          if (JSON.stringify(payment.request) !== JSON.stringify(request)) {
            throw failure(Code.AlreadyExists, "IDEMPOTENCY_KEY_REUSED", "different request");
          }
          return { paymentId };
        }
      }
      if (request.cardToken === "tok_declined") {
        throw failure(Code.FailedPrecondition, "CARD_DECLINED", "the card was declined");
      }
      if (request.cardToken === "tok_insufficient_funds") {
        throw failure(Code.FailedPrecondition, "INSUFFICIENT_FUNDS", "insufficient funds");
      }
      if (request.cardToken === "tok_unavailable") {
        // As payments answers its processor's outage (services/payments/payments.ts).
        throw dependencyUnavailable("card-processor", "the card processor is unavailable");
      }
      const paymentId = `pay_${this.authorizations.size + 1}`;
      this.authorizations.set(paymentId, { key: request.idempotencyKey, request, state: "AUTHORIZED" });
      return { paymentId };
    },
    capture: async (paymentId) => {
      await this.enter("capture", paymentId);
      const payment = this.payment(paymentId);
      if (payment.state === "VOIDED") {
        throw failure(Code.FailedPrecondition, "PAYMENT_VOIDED", "voided");
      }
      payment.state = "CAPTURED";
    },
    void: async (paymentId) => {
      await this.enter("void", paymentId);
      const payment = this.payment(paymentId);
      if (payment.state === "CAPTURED") {
        throw failure(Code.FailedPrecondition, "PAYMENT_CAPTURED", "captured");
      }
      payment.state = "VOIDED";
    },
  };

  private async enter(method: Method, id: string): Promise<void> {
    this.calls.push(`${method} ${id}`);
    await this.onCall(method, id);
    const planned = this.failures.get(method);
    if (planned !== undefined && planned.times > 0) {
      planned.times--;
      throw planned.error;
    }
  }

  private reservation(orderId: string) {
    const reservation = this.reservations.get(orderId);
    if (reservation === undefined) {
      throw new ConnectError(`no reservation for order ${orderId}`, Code.NotFound);
    }
    return reservation;
  }

  private payment(paymentId: string) {
    const payment = this.authorizations.get(paymentId);
    if (payment === undefined) {
      throw new ConnectError(`no payment ${paymentId}`, Code.NotFound);
    }
    return payment;
  }

  private returnStock(lines: readonly RequestedLine[]): void {
    for (const line of lines) {
      this.adjust(line.sku, line.quantity);
    }
  }

  private adjust(sku: string, delta: number): void {
    const item = this.items.get(sku);
    if (item !== undefined) {
      this.items.set(sku, { ...item, available: item.available + delta });
    }
  }
}
