import { bareTarget } from "../../test/support/bare-target.js";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import { expect } from "chai";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { PaymentService, PaymentSchema } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ClientFactory, type TransportKind } from "../client/client-factory.js";
import { inboundCallScope } from "../context/inbound-call.js";
import { createLogger } from "../logger.js";
import { registration, serve, type MeshServer } from "../server/serve.js";
import { deadlineInterceptor, type DeadlineOptions } from "./deadline.js";

const logger = createLogger("deadline-test", "silent");
const authorize = "meshwork.payments.v1.PaymentService/AuthorizePayment";
/**
 * Timers, sockets and first-call warm-up are not exact; these tests check
 * correctness, not latency.
 */
const epsilonMs = 150;

/** What the inner server saw of one call. */
interface InnerCall {
  /** The deadline it received, as ms remaining when the handler started. */
  timeoutMs: number | undefined;
  /** When its signal aborted, or undefined if it did not. */
  abortedAt: number | undefined;
  abortCode: Code | undefined;
  done: Promise<void>;
}

/**
 * Two hops over real sockets: the test calls the outer server's
 * InventoryService.GetItem, whose handler calls the inner server's
 * PaymentService.AuthorizePayment through a ClientFactory with the deadline
 * interceptor. The inner handler holds the call for `innerHoldMs` or until its
 * signal aborts.
 */
class TwoHops {
  inner!: MeshServer;
  outer!: MeshServer;
  factory: ClientFactory | undefined;
  innerCalls: InnerCall[] = [];
  innerHoldMs = 2000;
  /** How long the outer handler works (ignoring its signal) before calling the inner server. */
  outerDelayMs = 0;
  /** Options for the outer handler's call to the inner server. */
  innerCallOptions: CallOptions = {};
  /** How the outer handler's outbound call ended. */
  outbound: Promise<ConnectError | undefined> | undefined;

  constructor(readonly protocol: TransportKind) {}

  async start(): Promise<void> {
    this.inner = await serve({
      port: 0,
      logger,
      services: [
        registration(PaymentService, {
          authorizePayment: async (_req, ctx) => {
            let resolveDone!: () => void;
            const call: InnerCall = {
              timeoutMs: ctx.timeoutMs(),
              abortedAt: undefined,
              abortCode: undefined,
              done: new Promise((resolve) => (resolveDone = resolve)),
            };
            this.innerCalls.push(call);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, this.innerHoldMs);
              const onAbort = () => {
                call.abortedAt = Date.now();
                call.abortCode = ConnectError.from(ctx.signal.reason).code;
                clearTimeout(timer);
                resolve();
              };
              if (ctx.signal.aborted) {
                onAbort();
              } else {
                ctx.signal.addEventListener("abort", onAbort, { once: true });
              }
            });
            resolveDone();
            return { payment: create(PaymentSchema, { paymentId: "pay-1" }) };
          },
          capturePayment: () => ({}),
          voidPayment: () => ({}),
          getPayment: () => ({}),
        }),
      ],
    });
    this.outer = await serve({
      port: 0,
      logger,
      interceptors: [inboundCallScope()],
      services: [
        registration(InventoryService, {
          getItem: async (req) => {
            if (this.outerDelayMs > 0) {
              await new Promise((resolve) => setTimeout(resolve, this.outerDelayMs));
            }
            const call = this.payments().authorizePayment(
              { idempotencyKey: "k", amountMinor: 100n, currencyCode: "EUR", cardToken: "tok_visa" },
              this.innerCallOptions,
            );
            this.outbound = call.then(
              () => undefined,
              (e: unknown) => ConnectError.from(e),
            );
            await call;
            return { item: create(ItemSchema, { sku: req.sku }) };
          },
          listItems: () => ({ items: [] }),
          reserveStock: () => ({}),
          releaseReservation: () => ({}),
          commitReservation: () => ({}),
          adjustStock: () => ({}),
        }),
      ],
    });
  }

  /** The outer handler's clients use these deadline options from now on. */
  useDeadlines(options: DeadlineOptions): void {
    this.factory?.close();
    this.factory = new ClientFactory({ interceptors: [deadlineInterceptor(options)] });
  }

  /** The test's client of the outer server; it has no deadline interceptor of its own. */
  readonly callers = new ClientFactory();
  outerClient(): Client<typeof InventoryService> {
    return this.callers.client(InventoryService, bareTarget(this.outer.url, this.protocol));
  }

  /** Calls the outer server; resolves to the error (or undefined) and how long it took. */
  async callOuter(options: CallOptions = {}): Promise<{ error: ConnectError | undefined; elapsedMs: number }> {
    const start = Date.now();
    try {
      await this.outerClient().getItem({ sku: "SKU-1" }, options);
      return { error: undefined, elapsedMs: Date.now() - start };
    } catch (e) {
      return { error: ConnectError.from(e), elapsedMs: Date.now() - start };
    }
  }

  async stop(): Promise<void> {
    this.factory?.close();
    this.callers.close();
    await Promise.all([this.outer.shutdown(), this.inner.shutdown()]);
  }

  private payments(): Client<typeof PaymentService> {
    if (this.factory === undefined) {
      throw new Error("call useDeadlines first");
    }
    return this.factory.client(PaymentService, bareTarget(this.inner.url, this.protocol));
  }
}

for (const protocol of ["grpc", "connect"] as const) {
  describe(`deadlineInterceptor over ${protocol}`, () => {
    let hops: TwoHops;
    beforeEach(async () => {
      hops = new TwoHops(protocol);
      await hops.start();
      hops.useDeadlines({ defaultTimeoutMs: 5000 });
    });
    afterEach(() => hops.stop());

    it("fails the outer call DeadlineExceeded within its deadline and aborts the inner handler at about the same time", async () => {
      const start = Date.now();
      const { error, elapsedMs } = await hops.callOuter({ timeoutMs: 200 });
      expect(error?.code).to.equal(Code.DeadlineExceeded);
      expect(elapsedMs).to.be.lessThan(200 + epsilonMs);

      expect(hops.innerCalls).to.have.length(1);
      const inner = hops.innerCalls[0]!;
      await inner.done;
      // The inner server got the remaining budget, not the 5 s default.
      expect(inner.timeoutMs).to.be.a("number").within(1, 200);
      expect(inner.abortedAt, "inner handler's signal aborted").to.be.a("number");
      expect(inner.abortedAt! - start).to.be.within(200 - epsilonMs, 200 + epsilonMs);
    });

    it("fails a call with no budget left DeadlineExceeded without sending it", async () => {
      hops.outerDelayMs = 150;
      const { error } = await hops.callOuter({ timeoutMs: 50 });
      expect(error?.code).to.equal(Code.DeadlineExceeded);
      // The outer handler keeps running after its caller gave up; wait for its outbound call.
      while (hops.outbound === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const outbound = await hops.outbound;
      expect(outbound?.code).to.equal(Code.DeadlineExceeded);
      expect(outbound?.rawMessage).to.equal(`no time left for ${authorize}`);
      expect(hops.innerCalls).to.have.length(0);
    });

    it("applies the per-method default when there is no inbound deadline", async () => {
      hops.useDeadlines({ defaultTimeoutMs: 5000, methodTimeoutsMs: { [authorize]: 150 } });
      const { error, elapsedMs } = await hops.callOuter();
      expect(error?.code).to.equal(Code.DeadlineExceeded);
      expect(elapsedMs).to.be.within(150 - epsilonMs / 2, 150 + epsilonMs);
      expect(hops.innerCalls[0]?.timeoutMs).to.be.a("number").within(1, 150);
    });

    it("applies defaultTimeoutMs to a method without its own default", async () => {
      hops.innerHoldMs = 0;
      hops.useDeadlines({ defaultTimeoutMs: 700, methodTimeoutsMs: { "other.Service/Method": 50 } });
      const { error } = await hops.callOuter();
      expect(error).to.equal(undefined);
      expect(hops.innerCalls[0]?.timeoutMs).to.be.a("number").within(700 - epsilonMs, 700);
    });

    it("lets a per-call timeoutMs override the method default, shorter or longer", async () => {
      hops.innerHoldMs = 0;
      hops.useDeadlines({ defaultTimeoutMs: 5000, methodTimeoutsMs: { [authorize]: 150 } });
      hops.innerCallOptions = { timeoutMs: 900 };
      expect((await hops.callOuter()).error).to.equal(undefined);
      expect(hops.innerCalls[0]?.timeoutMs).to.be.a("number").within(900 - epsilonMs, 900);

      hops.innerHoldMs = 2000;
      hops.innerCallOptions = { timeoutMs: 60 };
      const { error, elapsedMs } = await hops.callOuter();
      expect(error?.code).to.equal(Code.DeadlineExceeded);
      expect(elapsedMs).to.be.lessThan(60 + epsilonMs);
      expect(hops.innerCalls[1]?.timeoutMs).to.be.a("number").within(1, 60);
    });

    it("takes min(own timeout, remaining budget - margin)", async () => {
      hops.innerHoldMs = 0;
      hops.useDeadlines({ defaultTimeoutMs: 100, propagationMarginMs: 5 });
      expect((await hops.callOuter({ timeoutMs: 1000 })).error).to.equal(undefined);
      expect(hops.innerCalls[0]?.timeoutMs).to.be.a("number").within(1, 100);

      hops.useDeadlines({ defaultTimeoutMs: 5000, propagationMarginMs: 300 });
      expect((await hops.callOuter({ timeoutMs: 1000 })).error).to.equal(undefined);
      expect(hops.innerCalls[1]?.timeoutMs).to.be.a("number").within(700 - epsilonMs, 700);
    });

    it("cancels the inner call when the outer caller cancels", async () => {
      const abort = new AbortController();
      const start = Date.now();
      setTimeout(() => abort.abort(), 100);
      const { error } = await hops.callOuter({ signal: abort.signal });
      expect(error?.code).to.equal(Code.Canceled);

      while (hops.innerCalls.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const inner = hops.innerCalls[0]!;
      await inner.done;
      expect(inner.abortedAt, "inner handler's signal aborted").to.be.a("number");
      expect(inner.abortedAt! - start).to.be.lessThan(100 + epsilonMs);
      const outbound = await hops.outbound;
      expect(outbound?.code).to.equal(Code.Canceled);
    });
  });
}

describe("deadlineInterceptor options", () => {
  it("rejects timeouts that are not positive and margins that are negative", () => {
    expect(() => deadlineInterceptor({ defaultTimeoutMs: 0 })).to.throw(RangeError);
    expect(() => deadlineInterceptor({ defaultTimeoutMs: 100, methodTimeoutsMs: { [authorize]: -1 } })).to.throw(
      RangeError,
    );
    expect(() => deadlineInterceptor({ defaultTimeoutMs: 100, propagationMarginMs: -1 })).to.throw(RangeError);
  });
});
