import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { PaymentService, PaymentState } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { startService } from "../support/service-process.js";
import { TestClients } from "../support/test-identity.js";

describe("graceful shutdown of a service process", function () {
  this.timeout(30_000);

  it("on SIGTERM goes NOT_SERVING, finishes the call in flight, and exits 0", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-shutdown-"));
    const payments = await startService("payments", { DATA_DIR: dataDir });
    const clients = new TestClients();
    try {
      const watched: Status[] = [];
      const watching = (async () => {
        for await (const res of clients.client(Health, payments.url).watch({ service: "" })) {
          watched.push(res.status);
        }
      })().catch(() => undefined);
      // Connected first (mTLS handshake included), so that the slow call is
      // in flight, not still connecting, when SIGTERM arrives.
      await clients
        .client(PaymentService, payments.url)
        .getPayment({ paymentId: "warm-up" })
        .catch(() => undefined);
      for (let i = 0; i < 500 && watched.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const slow = clients
        .client(PaymentService, payments.url)
        .authorizePayment({ idempotencyKey: "in-flight", amountMinor: 100n, currencyCode: "USD", cardToken: "tok_slow_700" });
      await new Promise((resolve) => setTimeout(resolve, 150));
      const exitCode = payments.stop();
      const { payment } = await slow;
      expect(payment?.state).to.equal(PaymentState.AUTHORIZED);
      expect(await exitCode).to.equal(0);
      await watching;
      expect(watched).to.deep.equal([Status.SERVING, Status.NOT_SERVING]);
      expect(payments.logs.some((l) => l.msg === "shutting down")).to.equal(true);
    } finally {
      clients.close();
      await payments.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
