import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createHandlerContext } from "@connectrpc/connect";
import { expect } from "chai";
import {
  AuthorizePaymentRequestSchema,
  CapturePaymentRequestSchema,
  GetPaymentRequestSchema,
  PaymentService,
  PaymentState,
  VoidPaymentRequestSchema,
} from "../../gen/meshwork/payments/v1/payments_pb.js";
import { Code, ConnectError, reasonOf } from "../../mesh/errors.js";
import { createPaymentHandler } from "./handler.js";
import { Payments } from "./payments.js";
import { createSimulatedCardProcessor } from "./simulated-card-processor.js";
import { openSqlitePaymentStore, type SqlitePaymentStore } from "./sqlite-store.js";

const now = Date.parse("2030-01-01T00:00:00Z");

describe("createPaymentHandler", () => {
  let dir: string;
  let store: SqlitePaymentStore;
  let handler: ReturnType<typeof createPaymentHandler>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "payments-handler-"));
    store = openSqlitePaymentStore(join(dir, "payments.db"));
    handler = createPaymentHandler(new Payments({ store, processor: createSimulatedCardProcessor(), now: () => now }));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function context(method: keyof typeof PaymentService.method): ReturnType<typeof createHandlerContext> {
    return createHandlerContext({
      service: PaymentService,
      method: PaymentService.method[method],
      protocolName: "connect",
      requestMethod: "POST",
      url: `http://localhost/${PaymentService.typeName}/${PaymentService.method[method].name}`,
    });
  }

  function authorize(cardToken: string, ctx = context("authorizePayment")) {
    const request = create(AuthorizePaymentRequestSchema, {
      idempotencyKey: "key-1",
      orderId: "order-1",
      amountMinor: 4200n,
      currencyCode: "USD",
      cardToken,
    });
    return Promise.resolve(handler.authorizePayment(request, ctx));
  }

  async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
    const err = await promise.then(
      () => expect.fail("the call should fail"),
      (reason: unknown) => reason,
    );
    expect(err).to.be.instanceOf(ConnectError);
    return err as ConnectError;
  }

  it("maps an authorized payment with its int64 amount, state and timestamps", async () => {
    const { payment } = await authorize("tok_visa");
    expect(payment).to.deep.include({
      orderId: "order-1",
      amountMinor: 4200n,
      currencyCode: "USD",
      state: PaymentState.AUTHORIZED,
      createdAt: timestampFromMs(now),
      updatedAt: timestampFromMs(now),
    });
    expect(payment?.paymentId).to.match(/^pay_/);
  });

  it("maps capture, void and get", async () => {
    const { payment } = await authorize("tok_visa");
    const paymentId = payment?.paymentId ?? "";
    const got = await handler.getPayment(create(GetPaymentRequestSchema, { paymentId }), context("getPayment"));
    expect(got.payment).to.deep.equal(payment);
    const captured = await handler.capturePayment(create(CapturePaymentRequestSchema, { paymentId }), context("capturePayment"));
    expect(captured.payment?.state).to.equal(PaymentState.CAPTURED);
    const err = await rejection(
      Promise.resolve(handler.voidPayment(create(VoidPaymentRequestSchema, { paymentId }), context("voidPayment"))),
    );
    expect(err.code).to.equal(Code.FailedPrecondition);
    expect(reasonOf(err)).to.equal("PAYMENT_CAPTURED");
  });

  it("passes a decline through with its code and reason", async () => {
    const err = await rejection(authorize("tok_declined"));
    expect(err.code).to.equal(Code.FailedPrecondition);
    expect(reasonOf(err)).to.equal("CARD_DECLINED");
  });

  it("stops a slow authorization when the call is cancelled", async () => {
    const ctx = context("authorizePayment");
    const started = performance.now();
    setTimeout(() => ctx.abort(), 20);
    const err = await rejection(authorize("tok_slow_10000", ctx));
    expect(err.code).to.equal(Code.Canceled);
    expect(performance.now() - started).to.be.below(1000);
    const { payment } = await authorize("tok_visa");
    expect(payment?.state).to.equal(PaymentState.AUTHORIZED);
  });
});
