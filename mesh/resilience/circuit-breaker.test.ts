import { bareTarget } from "../../test/support/bare-target.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ClientFactory, createLogger, registration, serve, type MeshServer } from "../index.js";
import { dependencyUnavailable, unavailableDependencyOf } from "../dependency-unavailable.js";
import { circuitBreakerInterceptor } from "./circuit-breaker.js";
import { deadlineInterceptor } from "./deadline.js";
import { ResilienceEvents, type ResilienceEventMap } from "./resilience-events.js";

/**
 * A payments server whose behaviour the payment id chooses: a Code name
 * ("Unavailable", "FailedPrecondition", ...) fails with that code,
 * "DependencyUnavailable" answers that a dependency of its own is down
 * (Unavailable with the reason), "wait-<ms>" answers after a pause, anything
 * else answers at once. It counts the calls
 * each method received.
 */
async function startPayments(calls: Map<string, number>): Promise<MeshServer> {
  const act = async (method: string, paymentId: string) => {
    calls.set(method, (calls.get(method) ?? 0) + 1);
    if (paymentId.startsWith("wait-")) {
      await new Promise((resolve) => setTimeout(resolve, Number(paymentId.slice(5))));
    } else if (paymentId === "DependencyUnavailable") {
      throw dependencyUnavailable("card-processor", "the card processor is unavailable");
    } else if (paymentId in Code) {
      throw new ConnectError(`test failure ${paymentId}`, Code[paymentId as keyof typeof Code]);
    }
    return { payment: { paymentId } };
  };
  return serve({
    port: 0,
    logger: createLogger("circuit-breaker-test", "silent"),
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("circuitBreakerInterceptor", () => {
  let server: MeshServer;
  let factory: ClientFactory;
  let calls: Map<string, number>;
  let events: ResilienceEvents;
  let changes: ResilienceEventMap["breakerStateChange"][0][];
  let rejected: number;

  const client = () => factory.client(PaymentService, bareTarget(server.url));

  beforeEach(async () => {
    calls = new Map();
    server = await startPayments(calls);
    events = new ResilienceEvents();
    // Each test listens to its own emitter: a breaker of an earlier test may
    // still move to half-open after that test ended.
    const seen: typeof changes = [];
    changes = seen;
    rejected = 0;
    events.on("breakerStateChange", (change) => seen.push(change));
    events.on("breakerRejected", () => rejected++);
    factory = new ClientFactory({
      interceptors: [
        circuitBreakerInterceptor({ target: "payments", events, volumeThreshold: 4, resetTimeoutMs: 200 }),
      ],
    });
  });
  afterEach(async () => {
    factory.close();
    await server.shutdown();
  });

  it("opens on server-side failures and then fails fast without calling the server", async () => {
    for (let i = 0; i < 4; i++) {
      expect((await failureOf(client().capturePayment({ paymentId: "Unavailable" }))).code).to.equal(Code.Unavailable);
    }
    expect(changes.map((c) => c.to)).to.deep.equal(["open"]);

    for (let i = 0; i < 5; i++) {
      const err = await failureOf(client().capturePayment({ paymentId: "ok" }));
      expect(err.code).to.equal(Code.Unavailable);
      expect(err.rawMessage).to.equal(
        'circuit breaker "payments meshwork.payments.v1.PaymentService/CapturePayment" is open',
      );
    }
    expect(calls.get("capture")).to.equal(4);
    expect(rejected).to.equal(5);
    expect(changes[0]).to.deep.equal({
      target: "payments",
      method: "meshwork.payments.v1.PaymentService/CapturePayment",
      from: "closed",
      to: "open",
    });
  });

  it("counts Internal, Unknown, DeadlineExceeded and ResourceExhausted as failures too", async () => {
    for (const code of ["Internal", "Unknown", "DeadlineExceeded", "ResourceExhausted"]) {
      await failureOf(client().capturePayment({ paymentId: code }));
    }
    expect((await failureOf(client().capturePayment({ paymentId: "ok" }))).rawMessage).to.contain("is open");
    expect(calls.get("capture")).to.equal(4);
  });

  it("never opens on client errors, however many", async () => {
    for (let i = 0; i < 20; i++) {
      expect((await failureOf(client().capturePayment({ paymentId: "FailedPrecondition" }))).code).to.equal(
        Code.FailedPrecondition,
      );
      // An empty id fails the server's request validation: InvalidArgument.
      expect((await failureOf(client().capturePayment({ paymentId: "" }))).code).to.equal(Code.InvalidArgument);
    }
    await client().capturePayment({ paymentId: "ok" });
    expect(changes).to.deep.equal([]);
    expect(rejected).to.equal(0);
    expect(calls.get("capture")).to.equal(21);
  });

  it("never opens on an Unavailable the server answered about its own dependency, and passes it on intact", async () => {
    for (let i = 0; i < 20; i++) {
      const err = await failureOf(client().capturePayment({ paymentId: "DependencyUnavailable" }));
      expect(err.code).to.equal(Code.Unavailable);
      expect(unavailableDependencyOf(err)).to.equal("card-processor");
    }
    expect(changes).to.deep.equal([]);
    expect(rejected).to.equal(0);
    expect(calls.get("capture")).to.equal(20);
    await client().capturePayment({ paymentId: "ok" });
  });

  it("still opens on the Unavailable of a dead endpoint (connection refused), after answered dependency outages", async () => {
    for (let i = 0; i < 10; i++) {
      await failureOf(client().capturePayment({ paymentId: "DependencyUnavailable" }));
    }
    // The server goes away: its port refuses connections, a real transport failure.
    await server.shutdown();
    for (let i = 0; i < 12 && changes.length === 0; i++) {
      const err = await failureOf(client().capturePayment({ paymentId: "ok" }));
      expect(err.code).to.equal(Code.Unavailable);
      expect(unavailableDependencyOf(err)).to.equal(undefined);
    }
    // 10 answered calls weigh as successes: it opens once refusals are more than half the window.
    expect(changes.map((c) => c.to)).to.deep.equal(["open"]);
    expect((await failureOf(client().capturePayment({ paymentId: "ok" }))).rawMessage).to.contain("is open");
    expect(calls.get("capture")).to.equal(10);
  });

  it("admits a single probe after the reset timeout and closes when it succeeds", async () => {
    for (let i = 0; i < 4; i++) {
      await failureOf(client().capturePayment({ paymentId: "Unavailable" }));
    }
    await sleep(250);
    expect(changes.map((c) => c.to)).to.deep.equal(["open", "half-open"]);

    const probe = client().capturePayment({ paymentId: "wait-100" });
    const second = await failureOf(client().capturePayment({ paymentId: "ok" }));
    expect(second.rawMessage).to.contain("is open");
    expect((await probe).payment?.paymentId).to.equal("wait-100");

    expect(changes.map((c) => c.to)).to.deep.equal(["open", "half-open", "closed"]);
    expect(changes[2]).to.include({ from: "half-open", to: "closed" });
    await client().capturePayment({ paymentId: "ok" });
    expect(calls.get("capture")).to.equal(6);
  });

  it("reopens when the half-open probe fails", async () => {
    for (let i = 0; i < 4; i++) {
      await failureOf(client().capturePayment({ paymentId: "Unavailable" }));
    }
    await sleep(250);
    await failureOf(client().capturePayment({ paymentId: "Unavailable" }));
    expect(changes.map((c) => c.to)).to.deep.equal(["open", "half-open", "open"]);
    expect((await failureOf(client().capturePayment({ paymentId: "ok" }))).rawMessage).to.contain("is open");
    expect(calls.get("capture")).to.equal(5);
  });

  it("keeps one breaker per method: an open method does not affect another", async () => {
    for (let i = 0; i < 4; i++) {
      await failureOf(client().capturePayment({ paymentId: "Unavailable" }));
    }
    expect((await failureOf(client().capturePayment({ paymentId: "ok" }))).rawMessage).to.contain("is open");
    const res = await client().voidPayment({ paymentId: "ok" });
    expect(res.payment?.paymentId).to.equal("ok");
    expect(changes.map((c) => c.method)).to.deep.equal(["meshwork.payments.v1.PaymentService/CapturePayment"]);
  });
});

describe("circuitBreakerInterceptor with deadlines the caller shortened", () => {
  let server: MeshServer;
  let factory: ClientFactory;
  let calls: Map<string, number>;
  let events: ResilienceEvents;
  let changes: ResilienceEventMap["breakerStateChange"][0][];

  const client = () => factory.client(PaymentService, bareTarget(server.url));

  beforeEach(async () => {
    calls = new Map();
    server = await startPayments(calls);
    events = new ResilienceEvents();
    const seen: typeof changes = [];
    changes = seen;
    events.on("breakerStateChange", (change) => seen.push(change));
    // The deadline interceptor sits outside the breaker, as in the factory's chain.
    factory = new ClientFactory({
      interceptors: [
        deadlineInterceptor({ defaultTimeoutMs: 150 }),
        circuitBreakerInterceptor({ target: "payments", events, volumeThreshold: 4, resetTimeoutMs: 200 }),
      ],
    });
  });
  afterEach(async () => {
    factory.close();
    await server.shutdown();
  });

  it("does not count a DeadlineExceeded of a budget shorter than the method's timeout", async () => {
    for (let i = 0; i < 12; i++) {
      const err = await failureOf(client().capturePayment({ paymentId: "wait-1000" }, { timeoutMs: 20 }));
      expect(err.code).to.equal(Code.DeadlineExceeded);
    }
    expect(changes).to.deep.equal([]);
    await client().capturePayment({ paymentId: "ok" });
  });

  it("still counts the method's own timeout, and other failures of shortened calls", async () => {
    for (let i = 0; i < 4; i++) {
      expect((await failureOf(client().capturePayment({ paymentId: "wait-1000" }))).code).to.equal(Code.DeadlineExceeded);
    }
    expect(changes.map((c) => c.to)).to.deep.equal(["open"]);
    // Open: a shortened call is refused like any other.
    expect((await failureOf(client().capturePayment({ paymentId: "ok" }, { timeoutMs: 100 }))).rawMessage).to.contain("is open");

    for (let i = 0; i < 4; i++) {
      expect((await failureOf(client().voidPayment({ paymentId: "Unavailable" }, { timeoutMs: 100 }))).code).to.equal(Code.Unavailable);
    }
    await sleep(20);
    expect(changes.filter((c) => c.method.endsWith("/VoidPayment")).map((c) => c.to)).to.deep.equal(["open"]);
  });

  it("lets a shortened call be the half-open probe, counted in full", async () => {
    for (let i = 0; i < 4; i++) {
      await failureOf(client().capturePayment({ paymentId: "Unavailable" }));
    }
    await sleep(250);
    expect(changes.map((c) => c.to)).to.deep.equal(["open", "half-open"]);
    // A probe that runs out of its caller's time reopens the breaker ...
    expect((await failureOf(client().capturePayment({ paymentId: "wait-1000" }, { timeoutMs: 50 }))).code).to.equal(Code.DeadlineExceeded);
    expect(changes.map((c) => c.to)).to.deep.equal(["open", "half-open", "open"]);
    await sleep(250);
    // ... and one that succeeds closes it.
    await client().capturePayment({ paymentId: "ok" }, { timeoutMs: 100 });
    expect(changes.map((c) => c.to)).to.deep.equal(["open", "half-open", "open", "half-open", "closed"]);
  });
});
