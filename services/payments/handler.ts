import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AuthorizePaymentResponseSchema,
  CapturePaymentResponseSchema,
  GetPaymentResponseSchema,
  PaymentSchema,
  PaymentService,
  PaymentState as ProtoPaymentState,
  VoidPaymentResponseSchema,
  type Payment as ProtoPayment,
} from "../../gen/meshwork/payments/v1/payments_pb.js";
import type { Payment, PaymentState } from "./model.js";
import type { Payments } from "./payments.js";

/**
 * PaymentService on top of the payments domain: it only maps proto to domain
 * and back. Requests arrive already validated by the mesh (protovalidate), so
 * amounts are positive and at most 10^8 and convert to numbers exactly.
 * The call's signal reaches the processor, so a cancelled or timed-out call
 * stops waiting for a slow card and authorizes nothing.
 */
export function createPaymentHandler(payments: Payments): ServiceImpl<typeof PaymentService> {
  return {
    async authorizePayment(request, context) {
      const payment = await payments.authorize(
        {
          idempotencyKey: request.idempotencyKey,
          orderId: request.orderId,
          amountMinor: Number(request.amountMinor),
          currencyCode: request.currencyCode,
          cardToken: request.cardToken,
        },
        context.signal,
      );
      return create(AuthorizePaymentResponseSchema, { payment: toProtoPayment(payment) });
    },

    async capturePayment(request) {
      return create(CapturePaymentResponseSchema, { payment: toProtoPayment(await payments.capture(request.paymentId)) });
    },

    async voidPayment(request) {
      return create(VoidPaymentResponseSchema, { payment: toProtoPayment(await payments.void(request.paymentId)) });
    },

    async getPayment(request) {
      return create(GetPaymentResponseSchema, { payment: toProtoPayment(await payments.get(request.paymentId)) });
    },
  };
}

const protoStates: Record<PaymentState, ProtoPaymentState> = {
  AUTHORIZED: ProtoPaymentState.AUTHORIZED,
  CAPTURED: ProtoPaymentState.CAPTURED,
  VOIDED: ProtoPaymentState.VOIDED,
};

function toProtoPayment(payment: Payment): ProtoPayment {
  return create(PaymentSchema, {
    paymentId: payment.paymentId,
    orderId: payment.orderId,
    amountMinor: BigInt(payment.amountMinor),
    currencyCode: payment.currencyCode,
    state: protoStates[payment.state],
    createdAt: timestampFromMs(payment.createdAtMs),
    updatedAt: timestampFromMs(payment.updatedAtMs),
  });
}
