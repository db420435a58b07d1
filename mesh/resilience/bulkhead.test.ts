import { bareTarget } from "../../test/support/bare-target.js";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { expect } from "chai";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ClientFactory, createLogger, reasonOf, registration, serve, type MeshServer } from "../index.js";
import { bulkheadFullReason, bulkheadInterceptor, bulkheadParty } from "./bulkhead.js";
import { circuitBreakerInterceptor } from "./circuit-breaker.js";
import { ResilienceEvents, type ResilienceEventMap } from "./resilience-events.js";

/** A payments server whose GetPayment answers after the number of ms the payment id names. */
async function startPayments(calls: { count: number }): Promise<MeshServer> {
  const act = async (paymentId: string) => {
    calls.count++;
    await new Promise((resolve) => setTimeout(resolve, Number(paymentId)));
    return { payment: { paymentId } };
  };
  return serve({
    port: 0,
    logger: createLogger("bulkhead-test", "silent"),
    services: [
      registration(PaymentService, {
        authorizePayment: (req) => act(req.idempotencyKey),
        capturePayment: (req) => act(req.paymentId),
        voidPayment: (req) => act(req.paymentId),
        getPayment: (req) => act(req.paymentId),
      }),
    ],
  });
}

const failureOf = (promise: Promise<unknown>): Promise<ConnectError> =>
  promise.then(
    () => expect.fail("expected an error"),
    (e: unknown) => ConnectError.from(e),
  );

describe("bulkheadInterceptor", () => {
  let server: MeshServer;
  let calls: { count: number };
  let factory: ClientFactory;
  let events: ResilienceEvents;

  beforeEach(async () => {
    calls = { count: 0 };
    server = await startPayments(calls);
    events = new ResilienceEvents();
  });
  afterEach(async () => {
    factory.close();
    await server.shutdown();
  });

  it("fails a call beyond the cap at once, and lets calls pass again once they finish", async () => {
    const rejected: ResilienceEventMap["bulkheadRejected"][0][] = [];
    events.on("bulkheadRejected", (e) => rejected.push(e));
    factory = new ClientFactory({ interceptors: [bulkheadInterceptor({ target: "payments", maxConcurrent: 2, events })] });
    const payments = factory.client(PaymentService, bareTarget(server.url));

    const slow = [payments.getPayment({ paymentId: "200" }), payments.getPayment({ paymentId: "200" })];
    const started = performance.now();
    const err = await failureOf(payments.getPayment({ paymentId: "0" }));
    expect(performance.now() - started).to.be.below(50);
    expect(err.code).to.equal(Code.ResourceExhausted);
    expect(err.rawMessage).to.equal('bulkhead "payments" is full (2 calls in flight)');
    expect(reasonOf(err)).to.equal(bulkheadFullReason);
    expect(rejected).to.deep.equal([{ target: "payments", inFlight: 2, limit: 2 }]);

    await Promise.all(slow);
    expect(calls.count).to.equal(2);
    await Promise.all([payments.getPayment({ paymentId: "0" }), payments.getPayment({ paymentId: "0" })]);
    expect(calls.count).to.equal(4);
  });

  it("frees its slot when a call fails", async () => {
    factory = new ClientFactory({ interceptors: [bulkheadInterceptor({ target: "payments", maxConcurrent: 1 })] });
    const payments = factory.client(PaymentService, bareTarget(server.url));
    // An empty id fails the server's request validation.
    expect((await failureOf(payments.getPayment({ paymentId: "" }))).code).to.equal(Code.InvalidArgument);
    await payments.getPayment({ paymentId: "0" });
  });

  it("does not open the circuit breaker outside it", async () => {
    const opened: unknown[] = [];
    events.on("breakerStateChange", (e) => opened.push(e));
    factory = new ClientFactory({
      interceptors: [
        circuitBreakerInterceptor({ target: "payments", events, volumeThreshold: 2 }),
        bulkheadInterceptor({ target: "payments", maxConcurrent: 1, events }),
      ],
    });
    const payments = factory.client(PaymentService, bareTarget(server.url));
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => payments.getPayment({ paymentId: "100" })));
    expect(results.filter((r) => r.status === "rejected")).to.have.length(9);
    expect(opened).to.deep.equal([]);
    await payments.getPayment({ paymentId: "0" });
  });

  it("holds one party to its share of the slots while others still get in", async () => {
    factory = new ClientFactory({ interceptors: [bulkheadInterceptor({ target: "payments", maxConcurrent: 8, maxShare: 0.25, events })] });
    const payments = factory.client(PaymentService, bareTarget(server.url));
    const as = (party: string) => {
      const contextValues = createContextValues();
      contextValues.set(bulkheadParty, party);
      return { contextValues };
    };
    const mallory = [1, 2, 3, 4].map(() => payments.getPayment({ paymentId: "300" }, as("mallory")).then(() => "ok", (e: unknown) => ConnectError.from(e)));
    // Calls of another party, and calls of nobody in particular, still find slots.
    await payments.getPayment({ paymentId: "0" }, as("alice"));
    await payments.getPayment({ paymentId: "0" });
    const outcomes = await Promise.all(mallory);
    expect(outcomes.filter((o) => o === "ok")).to.have.length(2);
    const refused = outcomes.filter((o) => o instanceof ConnectError);
    expect(refused.map((e) => [e.code, reasonOf(e)])).to.deep.equal([
      [Code.ResourceExhausted, bulkheadFullReason],
      [Code.ResourceExhausted, bulkheadFullReason],
    ]);
    // Once its calls end, the party has its share again.
    await Promise.all([payments.getPayment({ paymentId: "0" }, as("mallory")), payments.getPayment({ paymentId: "0" }, as("mallory"))]);
  });

  it("refuses a share that is not a fraction", () => {
    expect(() => bulkheadInterceptor({ target: "payments", maxShare: 0 })).to.throw(RangeError, /maxShare/);
    expect(() => bulkheadInterceptor({ target: "payments", maxShare: 1.5 })).to.throw(RangeError, /maxShare/);
    factory = new ClientFactory();
  });
});
