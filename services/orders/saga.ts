import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { Code, ConnectError, failure, reasonMetadataOf, reasonOf } from "../../mesh/errors.js";
import { cancelDetailOf } from "./cancel-detail.js";
import type { CancelReason, Compensation, Order, OrderEvent } from "./order.js";
import type { OrderStore } from "./order-store.js";
import type { InventoryPort, PaymentsPort } from "./ports.js";

export interface SagaDependencies {
  readonly store: OrderStore;
  readonly inventory: InventoryPort;
  readonly payments: PaymentsPort;
}

export interface SagaOptions {
  readonly logger: Logger;
  readonly now: () => Date;
  /** Tries per call that is retried in place (commit, capture, compensations). */
  readonly retryAttempts: number;
  /** Wait before the first retry; it doubles with each further retry. */
  readonly retryBackoffMs: number;
  /** Test only: the process kills itself with SIGKILL when the saga reaches this point. See `SagaCrashPoint`. */
  readonly crashAt?: SagaCrashPoint;
  /** This replica's lease owner id: every write requires that no other replica holds the saga. */
  readonly owner: string;
}

/**
 * Test only: the points at which the crash tests kill the orders process, to
 * prove that a restart finishes every saga. "before-" is just before the
 * upstream call; "after-" is once the call has returned and before the saga
 * has stored what it learned, the widest window for a lost result. The void
 * and release points are compensations.
 */
export const sagaCrashPoints = [
  "before-reserve",
  "after-reserve",
  "after-authorize",
  "after-commit",
  "after-capture",
  "after-void",
  "after-release",
] as const;

export type SagaCrashPoint = (typeof sagaCrashPoints)[number];

/** A crash point named in text (the environment); a RangeError lists the valid names. */
export function parseSagaCrashPoint(value: string): SagaCrashPoint {
  const point = sagaCrashPoints.find((candidate) => candidate === value);
  if (point === undefined) {
    throw new RangeError(`unknown saga crash point ${JSON.stringify(value)}; expected one of ${sagaCrashPoints.join(", ")}`);
  }
  return point;
}

type SagaChange = Partial<Pick<Order, "state" | "sagaStep" | "undo" | "paymentId" | "cancelReason" | "cancelDetail">>;

/**
 * The order saga: RESERVE -> AUTHORIZE -> COMMIT -> CAPTURE -> CONFIRMED, or
 * COMPENSATE -> CANCELLED. Each step is stored before its upstream call, and
 * every upstream call is idempotent by order id, so `drive` can pick up any
 * PENDING order at its stored step, after a crash as well as in the request
 * that placed it.
 *
 * Failure handling, by what the failed call may have done:
 * - a definitive refusal (a client-error code) did nothing: compensate for the
 *   steps before it;
 * - an ambiguous failure (Unavailable, DeadlineExceeded, ...) may have taken
 *   effect. RESERVE and AUTHORIZE compensate anyway (release is safe on a
 *   reservation that was never made). COMMIT and CAPTURE are retried in place
 *   instead, because committed stock cannot be released: guessing wrong would
 *   void a payment for sold stock.
 * - compensations are retried with backoff. When a call still fails
 *   ambiguously the saga stalls: the order stays PENDING at its step (a
 *   COMPENSATE step keeps its remaining `undo`), is logged, and is finished by
 *   a later `resumePending` or a replay of the same PlaceOrder request.
 *
 * The first step a `drive` takes may repeat a call whose result was lost (a
 * crash after the call returned, or a stall), so a cancel request found there
 * is handled with care: at AUTHORIZE the authorization is made again (same
 * key: it returns the hold an earlier call placed) so that it can be voided;
 * at COMMIT the reservation is released first, and a refusal because it is
 * committed means the earlier commit landed: the stock is sold, so the order
 * goes on to CAPTURE instead of cancelling.
 */
export class OrderSaga {
  constructor(
    private readonly deps: SagaDependencies,
    private readonly options: SagaOptions,
  ) {}

  /** Drives a PENDING order until it ends or stalls; returns the order as stored afterwards. */
  async drive(order: Order, signal?: AbortSignal): Promise<Order> {
    let current = order;
    let repeat = true;
    while (current.sagaStep !== "DONE") {
      const next = await this.step(current, repeat, signal);
      if (next === undefined) {
        return (await this.deps.store.get(order.orderId)) ?? current;
      }
      current = next;
      repeat = false;
    }
    return current;
  }

  /**
   * The order after one step, or undefined when this driver stops (stalled, or
   * the order moved on elsewhere). `repeat`: the step's call may have been made
   * before, its result lost.
   */
  private async step(order: Order, repeat: boolean, signal?: AbortSignal): Promise<Order | undefined> {
    switch (order.sagaStep) {
      case "RESERVE":
        return this.reserve(order, signal);
      case "AUTHORIZE":
        return this.authorize(order, repeat);
      case "COMMIT":
        return this.commit(order, repeat);
      case "CAPTURE":
        return this.capture(order);
      case "COMPENSATE":
        return this.compensate(order);
      case "DONE":
        return undefined;
    }
  }

  /** The caller's signal reaches only the reservation: after it, compensating matters more than the caller's deadline. */
  private async reserve(order: Order, signal?: AbortSignal): Promise<Order | undefined> {
    const lines = order.lines.map(({ sku, quantity }) => ({ sku, quantity }));
    this.reached("before-reserve");
    try {
      await this.deps.inventory.reserve(order.orderId, lines, signal);
      this.reached("after-reserve");
    } catch (err) {
      if (codeOf(err) === Code.FailedPrecondition) {
        // All or none: a refused reservation holds nothing.
        return this.cancel(order, "OUT_OF_STOCK", [], err);
      }
      // If the reservation landed after all, the release returns it; one still
      // in flight when the release arrives is returned by its TTL.
      return this.cancel(order, "INTERNAL", ["RELEASE"], err);
    }
    return this.save(order, { sagaStep: "AUTHORIZE" });
  }

  private async authorize(order: Order, repeat: boolean): Promise<Order | undefined> {
    // On a repeat an earlier call may have left a hold: authorizing again
    // returns it, and the cancel is then honoured at COMMIT, voiding it. A hold
    // made only for that is voided at once and never captured.
    if (order.cancelRequested && !repeat) {
      return this.cancel(order, "CUSTOMER_REQUESTED", ["RELEASE"]);
    }
    const cardToken = required(order.cardToken, "card token", order);
    let paymentId: string;
    try {
      ({ paymentId } = await this.deps.payments.authorize({
        idempotencyKey: authorizationKey(order.orderId),
        orderId: order.orderId,
        amountMinor: order.totalMinor,
        currencyCode: order.currencyCode,
        cardToken,
      }));
      this.reached("after-authorize");
    } catch (err) {
      if (codeOf(err) === Code.FailedPrecondition) {
        return this.cancel(order, "PAYMENT_DECLINED", ["RELEASE"], err, reasonOf(err));
      }
      // An ambiguous failure may have left a hold, but without its payment id
      // it cannot be voided here; an uncaptured hold lapses at the processor.
      return this.cancel(order, "PAYMENT_FAILED", ["RELEASE"], err);
    }
    return this.save(order, { sagaStep: "COMMIT", paymentId });
  }

  private async commit(order: Order, repeat: boolean): Promise<Order | undefined> {
    if (order.cancelRequested) {
      if (repeat) {
        return this.releaseUnlessCommitted(order);
      }
      return this.cancel(order, "CUSTOMER_REQUESTED", ["VOID", "RELEASE"]);
    }
    try {
      await this.retrying(() => this.deps.inventory.commit(order.orderId));
      this.reached("after-commit");
    } catch (err) {
      if (!isDefinitive(err)) {
        return this.stall(order, err);
      }
      if (reasonOf(err) === "RESERVATION_EXPIRED") {
        return this.cancel(order, "RESERVATION_EXPIRED", ["VOID"], err);
      }
      return this.cancel(order, "INTERNAL", ["VOID", "RELEASE"], err);
    }
    return this.save(order, { sagaStep: "CAPTURE" });
  }

  /**
   * A cancel request at a repeated COMMIT: a commit sent before may have
   * landed, and sold stock cannot be given back. Releasing tells which: a
   * release refused as RESERVATION_COMMITTED means the stock is sold and the
   * order goes on to CAPTURE; otherwise the stock is back and only the payment
   * remains to void.
   */
  private async releaseUnlessCommitted(order: Order): Promise<Order | undefined> {
    try {
      await this.retrying(() => this.deps.inventory.release(order.orderId));
      this.reached("after-release");
    } catch (err) {
      if (!isDefinitive(err)) {
        return this.stall(order, err);
      }
      if (reasonOf(err) === "RESERVATION_COMMITTED") {
        this.options.logger.warn({ orderId: order.orderId }, "cancel not honoured: the stock was committed before the restart");
        return this.save(order, { sagaStep: "CAPTURE" });
      }
      this.options.logger.warn({ orderId: order.orderId, err }, "release refused; cancelling anyway");
    }
    return this.cancel(order, "CUSTOMER_REQUESTED", ["VOID"]);
  }

  /**
   * Committed stock is sold and cannot be given back, so COMMIT is the point of
   * no return: a cancel request arriving after it is not honoured, and only a
   * definite refusal of the capture compensates (voiding the payment).
   */
  private async capture(order: Order): Promise<Order | undefined> {
    const paymentId = required(order.paymentId, "payment id", order);
    try {
      await this.retrying(() => this.deps.payments.capture(paymentId));
      this.reached("after-capture");
    } catch (err) {
      if (!isDefinitive(err)) {
        return this.stall(order, err);
      }
      return this.cancel(order, "INTERNAL", ["VOID"], err);
    }
    return this.save(order, { state: "CONFIRMED", sagaStep: "DONE" });
  }

  /** Makes the first remaining compensation, or ends the order CANCELLED when none remains. */
  private async compensate(order: Order): Promise<Order | undefined> {
    const [action, ...rest] = order.undo;
    if (action === undefined) {
      return this.save(order, { state: "CANCELLED", sagaStep: "DONE" });
    }
    try {
      await this.retrying(() => this.undo(action, order));
      this.reached(action === "VOID" ? "after-void" : "after-release");
    } catch (err) {
      if (!isDefinitive(err)) {
        return this.stall(order, err);
      }
      // A refusal is final, so retrying cannot help. NotFound is expected (a
      // reservation that was never made); anything else is worth a look.
      if (codeOf(err) !== Code.NotFound) {
        this.options.logger.warn({ orderId: order.orderId, action, err }, "compensation refused; moving on");
      }
    }
    return this.save(order, { undo: rest });
  }

  private undo(action: Compensation, order: Order): Promise<void> {
    switch (action) {
      case "VOID":
        return this.deps.payments.void(required(order.paymentId, "payment id", order));
      case "RELEASE":
        return this.deps.inventory.release(order.orderId);
    }
  }

  /**
   * Decides to cancel: the order gets the reason and its fixed customer
   * sentence (cancel-detail.ts); the internal cause, if any, goes to the log
   * (with the request id, when a request drives the saga).
   */
  private cancel(order: Order, reason: CancelReason, undo: Compensation[], cause?: unknown, declineReason?: string): Promise<Order | undefined> {
    if (cause !== undefined) {
      const serverSide = reason === "PAYMENT_FAILED" || reason === "INTERNAL";
      this.options.logger[serverSide ? "warn" : "info"](
        {
          orderId: order.orderId,
          sagaStep: order.sagaStep,
          cancelReason: reason,
          cause: messageOf(cause),
          code: Code[codeOf(cause)],
          // e.g. DEPENDENCY_UNAVAILABLE with dependency card-processor: payments is up, its processor is not.
          ...(reasonOf(cause) === undefined ? {} : { reason: reasonOf(cause), reasonMetadata: reasonMetadataOf(cause) }),
        },
        "order cancelled",
      );
    }
    return this.save(order, { sagaStep: "COMPENSATE", cancelReason: reason, cancelDetail: cancelDetailOf(reason, declineReason), undo });
  }

  /** Test only: see `SagaCrashPoint`. */
  private reached(point: SagaCrashPoint): void {
    if (point === this.options.crashAt) {
      process.kill(process.pid, "SIGKILL");
    }
  }

  private stall(order: Order, err: unknown): undefined {
    this.options.logger.error(
      { orderId: order.orderId, sagaStep: order.sagaStep, err },
      "saga stalled; the order stays PENDING until resumePending",
    );
    return undefined;
  }

  private async save(order: Order, change: SagaChange): Promise<Order | undefined> {
    const next: Order = { ...order, ...change, updatedAt: this.options.now() };
    // The card token is needed only to authorize; it is not kept past that.
    const keepsCard = next.sagaStep === "RESERVE" || next.sagaStep === "AUTHORIZE";
    // Reaching DONE is the one step that ends the order: its event goes with it.
    const events: OrderEvent[] =
      next.sagaStep === "DONE" ? [next.state === "CONFIRMED" ? "ORDER_CONFIRMED" : "ORDER_CANCELLED"] : [];
    const stored = await this.deps.store.update(
      { ...next, cardToken: keepsCard ? next.cardToken : undefined },
      order.sagaStep,
      events,
      this.options.owner,
    );
    if (stored === undefined) {
      this.options.logger.warn({ orderId: order.orderId, sagaStep: order.sagaStep }, "order moved on elsewhere");
    }
    return stored;
  }

  /** Calls `call`, retrying ambiguous failures with exponential backoff; a definitive refusal is thrown at once. */
  private async retrying(call: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (isDefinitive(err) || attempt >= this.options.retryAttempts) {
          throw err;
        }
        await sleep(this.options.retryBackoffMs * 2 ** (attempt - 1));
      }
    }
  }
}

/** The payments idempotency key of an order's one authorization. */
export function authorizationKey(orderId: string): string {
  return `orders:${orderId}`;
}

/** Codes by which a server refuses a request without acting on it: repeating the call cannot change the answer. */
const definitiveCodes = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.Unauthenticated,
]);

function isDefinitive(err: unknown): boolean {
  return definitiveCodes.has(codeOf(err));
}

function codeOf(err: unknown): Code {
  return ConnectError.from(err).code;
}

function messageOf(err: unknown): string {
  return ConnectError.from(err).rawMessage;
}

/** Guards an invariant of the stored saga: a value its step cannot be at without. */
function required<T>(value: T | undefined, what: string, order: Order): T {
  if (value === undefined) {
    throw failure(Code.Internal, "ORDER_INCONSISTENT", `order ${order.orderId} is at ${order.sagaStep} without a ${what}`);
  }
  return value;
}
