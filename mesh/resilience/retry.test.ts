import { bareTarget } from "../../test/support/bare-target.js";
import { MethodOptions_IdempotencyLevel as IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ClientFactory, createLogger, registration, serve, type MeshServer, type ServerInterceptor } from "../index.js";
import { dependencyUnavailable, isDependencyUnavailable } from "../dependency-unavailable.js";
import { ResilienceEvents, type ResilienceEventMap } from "./resilience-events.js";
import { retryInterceptor, type RetryOptions } from "./retry.js";

/**
 * A payments server whose behaviour the payment id chooses, in dash-separated
 * steps: "wait-<ms>" pauses, "flaky-<n>" fails with Unavailable on the first n
 * calls with that id, a Code name ("Unavailable", ...) fails with that code,
 * "DependencyUnavailable" answers that a dependency of its own is down.
 * It counts the calls each method received. grpc.health.v1 Check, a method
 * with no idempotency_level, always fails with Unavailable.
 */
async function startPayments(calls: Map<string, number>): Promise<MeshServer> {
  const seen = new Map<string, number>();
  const act = async (method: string, paymentId: string) => {
    calls.set(method, (calls.get(method) ?? 0) + 1);
    const n = (seen.get(paymentId) ?? 0) + 1;
    seen.set(paymentId, n);
    const steps = paymentId.split("-");
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step === "wait") {
        await new Promise((resolve) => setTimeout(resolve, Number(steps[++i])));
      } else if (step === "flaky") {
        if (n <= Number(steps[++i])) {
          throw new ConnectError("flaky", Code.Unavailable);
        }
      } else if (step === "DependencyUnavailable") {
        throw dependencyUnavailable("card-processor", "the card processor is unavailable");
      } else if (step in Code) {
        throw new ConnectError(`test failure ${step}`, Code[step as keyof typeof Code]);
      }
    }
    return { payment: { paymentId } };
  };
  const healthDown: ServerInterceptor = (next) => async (request, context) => {
    if (context.service.typeName === Health.typeName && context.method.name === "Check") {
      calls.set("health", (calls.get("health") ?? 0) + 1);
      throw new ConnectError("down", Code.Unavailable);
    }
    return next(request, context);
  };
  return serve({
    port: 0,
    logger: createLogger("retry-test", "silent"),
    interceptors: [healthDown],
    services: [
      registration(PaymentService, {
        authorizePayment: (req) => act("authorize", req.idempotencyKey),
        capturePayment: (req) => act("capture", req.paymentId),
        voidPayment: (req) => act("void", req.paymentId),
        getPayment: (req) => act("get", req.paymentId),
      }),
    ],
  });
}

const failureOf = (promise: Promise<unknown>): Promise<ConnectError> =>
  promise.then(
    () => expect.fail("expected an error"),
    (e: unknown) => ConnectError.from(e),
  );

describe("retryInterceptor", () => {
  let server: MeshServer;
  let calls: Map<string, number>;
  const factories: ClientFactory[] = [];

  /** A payments client through a retry interceptor, and what it reported. */
  const clientWith = (options: Partial<RetryOptions> = {}) => {
    const events = new ResilienceEvents();
    const retries: ResilienceEventMap["retry"][0][] = [];
    let exhausted = 0;
    events.on("retry", (e) => retries.push(e));
    events.on("retryBudgetExhausted", () => exhausted++);
    const factory = new ClientFactory({
      interceptors: [retryInterceptor({ target: "payments", events, initialBackoffMs: 5, ...options })],
    });
    factories.push(factory);
    return {
      payments: factory.client(PaymentService, bareTarget(server.url)),
      health: factory.client(Health, bareTarget(server.url)),
      retries,
      exhausted: () => exhausted,
    };
  };

  beforeEach(async () => {
    calls = new Map();
    server = await startPayments(calls);
  });
  afterEach(async () => {
    for (const factory of factories.splice(0)) {
      factory.close();
    }
    await server.shutdown();
  });

  it("retries an IDEMPOTENT method through two Unavailable failures to success", async () => {
    expect(PaymentService.method.capturePayment.idempotency).to.equal(IdempotencyLevel.IDEMPOTENT);
    const { payments, retries } = clientWith();
    const res = await payments.capturePayment({ paymentId: "flaky-2" });
    expect(res.payment?.paymentId).to.equal("flaky-2");
    expect(calls.get("capture")).to.equal(3);
    expect(retries.map((r) => [r.attempt, r.code, r.method])).to.deep.equal([
      [2, "Unavailable", "meshwork.payments.v1.PaymentService/CapturePayment"],
      [3, "Unavailable", "meshwork.payments.v1.PaymentService/CapturePayment"],
    ]);
    for (const r of retries) {
      expect(r.delayMs).to.be.within(0, 5 * 2 ** (r.attempt - 2));
    }
  });

  it("retries a NO_SIDE_EFFECTS method, over the Connect protocol too", async () => {
    expect(PaymentService.method.getPayment.idempotency).to.equal(IdempotencyLevel.NO_SIDE_EFFECTS);
    const factory = new ClientFactory({ interceptors: [retryInterceptor({ target: "payments", initialBackoffMs: 5 })] });
    factories.push(factory);
    const payments = factory.client(PaymentService, bareTarget(server.url, "connect"));
    await payments.getPayment({ paymentId: "flaky-2" });
    expect(calls.get("get")).to.equal(3);
  });

  it("gives up after maxAttempts with the last error", async () => {
    const { payments } = clientWith({ maxAttempts: 4 });
    expect((await failureOf(payments.capturePayment({ paymentId: "Unavailable" }))).code).to.equal(Code.Unavailable);
    expect(calls.get("capture")).to.equal(4);
  });

  it("never retries a method without an idempotency_level (grpc.health.v1 Check)", async () => {
    expect(Health.method.check.idempotency).to.equal(IdempotencyLevel.IDEMPOTENCY_UNKNOWN);
    const { health, retries } = clientWith();
    expect((await failureOf(health.check({ service: "" }))).code).to.equal(Code.Unavailable);
    expect(calls.get("health")).to.equal(1);
    expect(retries).to.deep.equal([]);
  });

  it("never retries an answer such as FailedPrecondition", async () => {
    const { payments } = clientWith();
    const err = await failureOf(payments.capturePayment({ paymentId: "FailedPrecondition" }));
    expect(err.code).to.equal(Code.FailedPrecondition);
    expect(calls.get("capture")).to.equal(1);
  });

  it("never retries an Unavailable the server answered about its own dependency", async () => {
    const { payments, retries } = clientWith();
    const err = await failureOf(payments.capturePayment({ paymentId: "DependencyUnavailable" }));
    expect(isDependencyUnavailable(err)).to.equal(true);
    expect(calls.get("capture")).to.equal(1);
    expect(retries).to.deep.equal([]);
  });

  it("stops retrying at the call's deadline", async () => {
    const { payments } = clientWith({ maxAttempts: 100, initialBackoffMs: 10, maxBackoffMs: 40 });
    const started = performance.now();
    const err = await failureOf(payments.getPayment({ paymentId: "wait-20-Unavailable" }, { timeoutMs: 200 }));
    const elapsed = performance.now() - started;
    expect([Code.Unavailable, Code.DeadlineExceeded]).to.include(err.code);
    expect(elapsed).to.be.below(260);
    expect(calls.get("get")).to.be.within(1, 10);
  });

  it("returns the last error at once when the backoff would outlast the deadline", async () => {
    const { payments, retries } = clientWith({ initialBackoffMs: 10_000, maxBackoffMs: 10_000 });
    const random = Math.random;
    Math.random = () => 0.5;
    try {
      const started = performance.now();
      const err = await failureOf(payments.getPayment({ paymentId: "Unavailable" }, { timeoutMs: 1_000 }));
      expect(err.code).to.equal(Code.Unavailable);
      expect(performance.now() - started).to.be.below(500);
    } finally {
      Math.random = random;
    }
    expect(calls.get("get")).to.equal(1);
    expect(retries).to.deep.equal([]);
  });

  it("under a full outage, keeps retries within the budget", async () => {
    const { payments, exhausted } = clientWith({
      initialBackoffMs: 1,
      budget: { ratio: 0.1, minRetriesPerSecond: 0, windowMs: 10_000 },
    });
    for (let i = 0; i < 100; i++) {
      await failureOf(payments.capturePayment({ paymentId: "Unavailable" }));
    }
    expect(calls.get("capture")).to.be.within(100, 110);
    expect(exhausted()).to.be.at.least(89);
  });
});
