import { createHash, randomUUID } from "node:crypto";
import { pino, type Logger } from "pino";
import { Code, failure } from "../../mesh/errors.js";
import type { Order, RequestedLine } from "./order.js";
import type { OrderStore } from "./order-store.js";
import { decodeOrderPageToken, encodeOrderPageToken } from "./page-token.js";
import type { InventoryPort, PaymentsPort, PricingRulesPort } from "./ports.js";
import { priceLines } from "./pricing.js";
import { OrderSaga, type SagaCrashPoint } from "./saga.js";

export interface OrderDomainDependencies {
  readonly store: OrderStore;
  readonly inventory: InventoryPort;
  readonly payments: PaymentsPort;
  /** Pricing rules behind feature flags. Default: none apply. */
  readonly pricingRules?: PricingRulesPort;
}

export interface OrderDomainOptions {
  /** Where stalled sagas and refused compensations are reported. Default: silent. */
  readonly logger?: Logger;
  /** The clock. Default: the system clock. */
  readonly now?: () => Date;
  /** Makes a new order id. Default: a random UUID. */
  readonly newOrderId?: () => string;
  /**
   * Tries per call the saga retries in place (commit, capture, compensations)
   * before it stalls. Default 4: with the default backoff, about 0.7 s of
   * retries, short enough to stay inside a PlaceOrder deadline and on top of
   * the retries the mesh client already makes.
   */
  readonly retryAttempts?: number;
  /** Wait before the first retry, doubling after; default 100 ms. */
  readonly retryBackoffMs?: number;
  /** Test only: the process SIGKILLs itself when a saga reaches this point. Default: never. */
  readonly testCrashAt?: SagaCrashPoint;
  /**
   * This replica's id, the owner of the saga leases it takes. Default: a
   * random UUID, unique per process (a restarted process is a new owner and
   * waits for its old leases to expire like any other replica).
   */
  readonly replicaId?: string;
  /**
   * How long a saga lease lasts; the driver renews it every third of that.
   * Default 10 s: a replica that dies mid-saga hands its orders over within
   * this plus the resume interval, while a driver stalled by a slow upstream
   * call (capped at 35 s, a slow card) keeps its lease through the renewals.
   */
  readonly sagaLeaseMs?: number;
}

export interface PlaceOrderInput {
  readonly requestId: string;
  readonly lines: readonly RequestedLine[];
  readonly cardToken: string;
}

export interface OrderPage {
  readonly orders: Order[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

export interface OrderDomain {
  /**
   * Places an order and runs its saga to the end (CONFIRMED or CANCELLED), or
   * until it stalls (then PENDING). Idempotent by (customer, request id): a
   * replay returns the same order, driving it on if nothing else is; a
   * different request under the same id is AlreadyExists
   * IDEMPOTENCY_KEY_REUSED.
   */
  placeOrder(customerId: string, input: PlaceOrderInput, signal?: AbortSignal): Promise<Order>;
  /** NotFound when unknown; PermissionDenied when another customer's. */
  getOrder(customerId: string, orderId: string): Promise<Order>;
  /** The customer's orders, newest first; pageSize 0 means 20. */
  listOrders(customerId: string, pageSize: number, pageToken: string): Promise<OrderPage>;
  /**
   * CANCELLED: returned unchanged. CONFIRMED: FailedPrecondition
   * ORDER_NOT_CANCELLABLE. PENDING: marks it cancel-requested; the saga
   * compensates at its next check (before AUTHORIZE, COMMIT and CAPTURE).
   */
  cancelOrder(customerId: string, orderId: string): Promise<Order>;
  /**
   * Drives every PENDING order whose saga no replica holds from its stored
   * step, one at a time, taking each one's lease first; returns them as they
   * ended up. Safe to repeat because every upstream call is idempotent. Call
   * it at startup (orders interrupted by a crash), and periodically (stalled
   * sagas, and those of a replica that died: its leases expire).
   */
  resumePending(): Promise<Order[]>;
}

const defaultPageSize = 20;

export function createOrderDomain(deps: OrderDomainDependencies, options: OrderDomainOptions = {}): OrderDomain {
  const retryAttempts = options.retryAttempts ?? 4;
  const retryBackoffMs = options.retryBackoffMs ?? 100;
  if (!Number.isInteger(retryAttempts) || retryAttempts < 1) {
    throw new RangeError(`retryAttempts must be a positive integer, got ${retryAttempts}`);
  }
  if (!(retryBackoffMs >= 0)) {
    throw new RangeError(`retryBackoffMs must be >= 0, got ${retryBackoffMs}`);
  }
  const logger = options.logger ?? pino({ enabled: false });
  const now = options.now ?? (() => new Date());
  const newOrderId = options.newOrderId ?? randomUUID;
  const replicaId = options.replicaId ?? randomUUID();
  const leaseMs = options.sagaLeaseMs ?? 10_000;
  if (!Number.isInteger(leaseMs) || leaseMs < 30) {
    throw new RangeError(`sagaLeaseMs must be an integer >= 30, got ${leaseMs}`);
  }
  const { store } = deps;
  const saga = new OrderSaga(deps, { logger, now, retryAttempts, retryBackoffMs, crashAt: options.testCrashAt, owner: replicaId });
  /** Orders whose saga this process is driving: never driven twice at once. */
  const running = new Set<string>();
  const lease = () => ({ owner: replicaId, untilMs: now().getTime() + leaseMs });

  /**
   * Drives the order's saga while holding its lease: takes it (or returns the
   * order as stored when another replica holds it), renews it every third of
   * its length, and gives it up when the saga ends or stalls. Should a renewal
   * find the lease taken (this process stalled past its expiry), the saga's
   * next write fails its lease check and this driver stops.
   */
  async function run(order: Order, signal?: AbortSignal): Promise<Order> {
    running.add(order.orderId);
    try {
      if (!(await store.takeLease(order.orderId, lease(), now().getTime()))) {
        return (await store.get(order.orderId)) ?? order;
      }
      let renewing: Promise<void> | undefined;
      const renewal = setInterval(() => {
        renewing = store.takeLease(order.orderId, lease(), now().getTime()).then(
          (held) => {
            if (!held) {
              logger.warn({ orderId: order.orderId }, "saga lease lost to another replica; this driver stops at its next write");
            }
          },
          (err: unknown) => logger.warn({ orderId: order.orderId, err }, "renewing the saga lease failed"),
        );
      }, Math.floor(leaseMs / 3));
      renewal.unref();
      try {
        return await saga.drive(order, signal);
      } finally {
        clearInterval(renewal);
        // A renewal still in flight would take the lease back after the release.
        await renewing;
        await store.releaseLease(order.orderId, replicaId).catch((err: unknown) =>
          logger.warn({ orderId: order.orderId, err }, "giving the saga lease up failed; it expires"),
        );
      }
    } finally {
      running.delete(order.orderId);
    }
  }

  async function replay(order: Order, fingerprint: string, signal?: AbortSignal): Promise<Order> {
    if (order.requestFingerprint !== fingerprint) {
      throw failure(
        Code.AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
        `request_id ${order.requestId} was already used for a different order`,
        { metadata: { request_id: order.requestId } },
      );
    }
    const idle = order.state === "PENDING" && !running.has(order.orderId);
    return idle ? run(order, signal) : order;
  }

  async function owned(customerId: string, orderId: string): Promise<Order> {
    const order = await store.get(orderId);
    if (order === undefined) {
      throw failure(Code.NotFound, "ORDER_NOT_FOUND", `no order ${orderId}`, { metadata: { order_id: orderId } });
    }
    if (order.customerId !== customerId) {
      throw failure(Code.PermissionDenied, "NOT_ORDER_OWNER", `order ${orderId} belongs to another customer`);
    }
    return order;
  }

  return {
    async placeOrder(customerId, input, signal) {
      assertDistinctSkus(input.lines);
      const fingerprint = requestFingerprint(input);
      const existing = await store.findByRequest(customerId, input.requestId);
      if (existing !== undefined) {
        return replay(existing, fingerprint, signal);
      }
      const bulkPricing = (await deps.pricingRules?.bulkPricing(customerId)) ?? false;
      const priced = await priceLines(deps.inventory, input.lines, signal, { bulkPricing });
      const at = now();
      const order: Order = {
        orderId: newOrderId(),
        customerId,
        requestId: input.requestId,
        requestFingerprint: fingerprint,
        ...priced,
        state: "PENDING",
        cancelDetail: "",
        cancelRequested: false,
        sagaStep: "RESERVE",
        undo: [],
        cardToken: input.cardToken,
        createdAt: at,
        updatedAt: at,
      };
      if (!(await store.insert(order, ["ORDER_PLACED"], lease()))) {
        // A concurrent identical request stored its order first.
        const winner = await store.findByRequest(customerId, input.requestId);
        if (winner === undefined) {
          throw new Error(`order for request ${input.requestId} vanished after a unique conflict`);
        }
        return replay(winner, fingerprint, signal);
      }
      return run(order, signal);
    },

    getOrder(customerId, orderId) {
      return owned(customerId, orderId);
    },

    async listOrders(customerId, pageSize, pageToken) {
      const limit = pageSize || defaultPageSize;
      const cursor = pageToken === "" ? undefined : decodeOrderPageToken(pageToken);
      const rows = await store.listByCustomer(customerId, limit + 1, cursor);
      const orders = rows.slice(0, limit);
      const last = orders.at(-1);
      const nextPageToken = rows.length > limit && last !== undefined ? encodeOrderPageToken(last) : "";
      return { orders, nextPageToken };
    },

    async cancelOrder(customerId, orderId) {
      let order = await owned(customerId, orderId);
      if (order.state === "PENDING") {
        await store.requestCancel(orderId, now());
        // Re-read: the saga may have ended between the read and the request.
        order = await owned(customerId, orderId);
      }
      if (order.state === "CONFIRMED") {
        throw failure(Code.FailedPrecondition, "ORDER_NOT_CANCELLABLE", `order ${orderId} is confirmed and cannot be cancelled`, {
          metadata: { order_id: orderId },
        });
      }
      return order;
    },

    async resumePending() {
      const resumed: Order[] = [];
      for (const orderId of await store.resumableOrderIds(now().getTime())) {
        const order = await store.get(orderId);
        if (order === undefined || order.state !== "PENDING" || running.has(orderId)) {
          continue;
        }
        try {
          resumed.push(await run(order));
        } catch (err) {
          logger.error({ orderId, err }, "resuming the order failed");
        }
      }
      return resumed;
    },
  };
}

function assertDistinctSkus(lines: readonly RequestedLine[]): void {
  const seen = new Set<string>();
  for (const { sku } of lines) {
    if (seen.has(sku)) {
      throw failure(Code.InvalidArgument, "DUPLICATE_SKU", `SKU ${sku} appears in more than one line`, { metadata: { sku } });
    }
    seen.add(sku);
  }
}

/** Lines hold distinct SKUs, so sorting them by SKU makes the same request hash the same in any line order. */
function requestFingerprint(input: PlaceOrderInput): string {
  const lines = [...input.lines].sort((a, b) => (a.sku < b.sku ? -1 : 1)).map(({ sku, quantity }) => [sku, quantity]);
  return createHash("sha256").update(JSON.stringify([lines, input.cardToken])).digest("base64url");
}
