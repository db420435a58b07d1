import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import http2 from "node:http2";
import net from "node:net";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { createBalancedTransport } from "../balancing/balanced-transport.js";
import { staticEndpoints } from "../balancing/endpoint-resolver.js";
import { deadlineInterceptor } from "../resilience/deadline.js";
import type { MeshServer } from "../server/serve.js";
import { createH2GrpcTransport, type H2GrpcTransport } from "./h2-grpc-transport.js";
import { connectFailedCode } from "./h2-session-pool.js";
import { withInterceptors } from "./intercepted-transport.js";
import { freePort } from "../../test/support/free-port.js";
import {
  authorize,
  entries,
  failureOf,
  oddMessage,
  outcomeOf,
  paymentService,
  sleep,
  startPaymentFixture,
} from "../../test/support/payment-fixture.js";

/** What the slow handler saw of its signal, per card token. */
const handlerAborts: { token: string; reason: unknown }[] = [];

function startServer(port = 0): Promise<MeshServer> {
  return startPaymentFixture(port, (token, reason) => handlerAborts.push({ token, reason }));
}

/** A plain HTTP/2 server answering every stream with `onStream`; the function stops it, closing its sessions. */
async function rawServer(onStream: (stream: http2.ServerHttp2Stream) => void): Promise<[number, () => Promise<void>]> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream) => {
    stream.on("error", () => undefined);
    onStream(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      sessions.forEach((session) => session.destroy());
    });
  return [(server.address() as net.AddressInfo).port, stop];
}

function nodeCodeOf(error: ConnectError): string | undefined {
  return (error.cause as NodeJS.ErrnoException | undefined)?.code;
}

describe("createH2GrpcTransport", () => {
  let server: MeshServer;
  const opened: H2GrpcTransport[] = [];

  function h2(interceptors: Interceptor[] = [], port = server.port, fallback?: Transport): H2GrpcTransport {
    const transport = createH2GrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, interceptors, fallback });
    opened.push(transport);
    return transport;
  }

  /** Runs `call` over connect-node's gRPC transport and this one (same server, same interceptors); connect-node's first. */
  async function both<T>(call: (transport: Transport) => Promise<T>, interceptors?: Interceptor[], port?: number): Promise<[T, T]> {
    const connect = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port ?? server.port}`, interceptors });
    return [await call(connect), await call(h2(interceptors, port))];
  }

  beforeEach(async () => {
    handlerAborts.length = 0;
    server = await startServer();
  });
  afterEach(async () => {
    for (const transport of opened.splice(0)) {
      transport.close();
    }
    await server.shutdown();
  });

  it("answers a call with the same message, headers and trailers", async () => {
    const [connect, fast] = await both(async (transport) => {
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const res = await createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"), {
        headers: { "x-echo": "hello" },
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      });
      return { res, header: entries(header).filter(([key]) => key !== "date"), trailer: entries(trailer) };
    });
    expect(fast.res).to.deep.equal(connect.res);
    expect(fast.res.payment?.paymentId).to.equal("pay_k1");
    expect(fast.header).to.deep.equal(connect.header);
    expect(fast.header).to.deep.include(["x-echo", "hello"]);
    expect(fast.trailer).to.deep.equal(connect.trailer);
    expect(fast.trailer).to.deep.include(["x-trailer", "t1"]);
  });

  it("answers Health.Check as connect-node does", async () => {
    server.health.set(paymentService, Status.SERVING);
    const [connect, fast] = await both((transport) => createClient(Health, transport).check({ service: paymentService }));
    expect(fast).to.deep.equal(connect);
    expect(fast.status).to.equal(Status.SERVING);
    const [connectErr, fastErr] = await both((transport) => failureOf(createClient(Health, transport).check({ service: "nope" })));
    expect(outcomeOf(fastErr)).to.deep.equal(outcomeOf(connectErr));
    expect(fastErr.code).to.equal(Code.NotFound);
  });

  it("fails an invalid request with the same InvalidArgument and violations", async () => {
    const [connect, fast] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment({ ...authorize("tok_visa"), currencyCode: "usd" })),
    );
    expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
    expect(fast.code).to.equal(Code.InvalidArgument);
    const violations = fast.findDetails(ViolationsSchema)[0]?.violations ?? [];
    expect(violations).to.have.length.greaterThan(0);
    expect(violations).to.deep.equal(connect.findDetails(ViolationsSchema)[0]?.violations);
  });

  it("fails a business failure with the same code, ErrorInfo and metadata", async () => {
    const [connect, fast] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_declined"))),
    );
    expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
    expect(fast.code).to.equal(Code.FailedPrecondition);
    expect(fast.rawMessage).to.equal("card declined");
    expect(fast.findDetails(ErrorInfoSchema)[0]?.reason).to.equal("CARD_DECLINED");
    expect(fast.findDetails(ErrorInfoSchema)[0]?.metadata).to.deep.equal({ token: "tok_declined" });
    expect(fast.metadata.get("x-trailer")).to.equal("t1");
  });

  it("percent-decodes a message with reserved characters and non-ASCII", async () => {
    const [connect, fast] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_odd"))),
    );
    expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
    expect(fast.code).to.equal(Code.Aborted);
    expect(fast.rawMessage).to.equal(oddMessage);
  });

  it("fails a call past its timeout with DeadlineExceeded, and the handler's signal aborts", async () => {
    const [connect, fast] = await both(async (transport) => {
      const started = Date.now();
      const err = await failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_slow_3000"), { timeoutMs: 100 }));
      return { outcome: outcomeOf(err), ms: Date.now() - started };
    });
    expect(fast.outcome).to.deep.equal(connect.outcome);
    expect(fast.outcome.code).to.equal(Code.DeadlineExceeded);
    expect(fast.outcome.rawMessage).to.equal("the operation timed out");
    expect(fast.ms).to.be.within(90, 1000);
    await sleep(100);
    expect(handlerAborts.map((a) => a.token)).to.deep.equal(["tok_slow_3000", "tok_slow_3000"]);
  });

  it("fails a call the caller aborts with Canceled, and the handler's signal aborts", async () => {
    const [connect, fast] = await both((transport) => {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      return failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_slow_3000"), { signal: abort.signal }));
    });
    expect(fast.code).to.equal(Code.Canceled);
    expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
    await sleep(100);
    expect(handlerAborts.map((a) => ConnectError.from(a.reason).code)).to.deep.equal([Code.Canceled, Code.Canceled]);
  });

  it("fails a call whose signal is already aborted without sending it", async () => {
    const abort = new AbortController();
    abort.abort(new ConnectError("stop", Code.Canceled));
    const [connect, fast] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"), { signal: abort.signal })),
    );
    expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
  });

  it("fails with Unavailable and the ECONNREFUSED cause when nothing listens", async () => {
    const port = await freePort();
    const [connect, fast] = await both(
      (transport) => failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"))),
      [],
      port,
    );
    expect(fast.code).to.equal(Code.Unavailable);
    expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
    expect(nodeCodeOf(fast)).to.equal("ECONNREFUSED");
    expect(nodeCodeOf(fast)).to.equal(nodeCodeOf(connect));
  });

  it("fails calls while the server is down, and recovers once it is back on the same port", async () => {
    const client = createClient(PaymentService, h2());
    const port = server.port;
    await client.authorizePayment(authorize("tok_visa"));
    await client.authorizePayment(authorize("tok_visa"));
    await server.shutdown();
    const down = await failureOf(client.authorizePayment(authorize("tok_visa")));
    expect(down.code).to.equal(Code.Unavailable);
    expect(nodeCodeOf(down)).to.equal("ECONNREFUSED");
    server = await startServer(port);
    const res = await client.authorizePayment(authorize("tok_visa"));
    expect(res.payment?.paymentId).to.equal("pay_k1");
  });

  it("recovers after a restart without a failed call in between", async () => {
    const transport = h2();
    const client = createClient(PaymentService, transport);
    const port = server.port;
    await client.authorizePayment(authorize("tok_visa"));
    await server.shutdown();
    server = await startServer(port);
    const res = await client.authorizePayment(authorize("tok_visa"));
    expect(res.payment?.paymentId).to.equal("pay_k1");
  });

  it("answers 200 concurrent calls", async () => {
    const client = createClient(PaymentService, h2());
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.authorizePayment({ ...authorize("tok_visa"), idempotencyKey: `k${i}` })),
    );
    expect(results.map((r) => r.payment?.paymentId)).to.deep.equal(Array.from({ length: 200 }, (_, i) => `pay_k${i}`));
  });

  it("runs client interceptors, which see connect-node's request and can add a header the server sees", async () => {
    const seen: string[] = [];
    const addHeader: Interceptor = (next) => async (req) => {
      const header: string[] = [];
      req.header.forEach((value, key) => header.push(`${key}=${value}`));
      seen.push(`${req.method.name} ${req.service.typeName} ${req.requestMethod} ${req.url} stream=${req.stream} ${header.join(";")} ${(req.message as { $typeName: string }).$typeName}`);
      req.header.set("x-added", "by-interceptor");
      return await next(req);
    };
    const [connect, fast] = await both(async (transport) => {
      let header: Headers | undefined;
      await createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"), { onHeader: (h) => (header = h), timeoutMs: 5000 });
      return header?.get("x-added");
    }, [addHeader]);
    expect(fast).to.equal("by-interceptor");
    expect(connect).to.equal("by-interceptor");
    // connect-node also offers grpc-accept-encoding (this transport never compresses).
    expect(seen[1]).to.equal(seen[0]?.replace("grpc-accept-encoding=gzip,br;", ""));
    expect(seen[1]).to.contain("content-type=application/grpc+proto").and.contain("grpc-timeout=5000m").and.contain("te=trailers");
  });

  it("takes the deadline from a grpc-timeout header an interceptor sets", async () => {
    const deadline = [deadlineInterceptor({ defaultTimeoutMs: 1_000 })];
    const [connect, fast] = await both(
      (transport) => failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_slow_3000"))),
      deadline,
    );
    expect(fast.code).to.equal(Code.DeadlineExceeded);
    expect(connect.code).to.equal(Code.DeadlineExceeded);
  });

  it("fails a stream the server refuses with Unavailable and the Node error as cause", async () => {
    const [port, stop] = await rawServer((stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    try {
      const [connect, fast] = await both(
        (transport) => failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"))),
        [],
        port,
      );
      expect(fast.code).to.equal(Code.Unavailable);
      expect(nodeCodeOf(fast)).to.equal("ERR_HTTP2_STREAM_ERROR");
      expect(nodeCodeOf(fast)).to.equal(nodeCodeOf(connect));
      expect((fast.cause as Error).message).to.contain("NGHTTP2_REFUSED_STREAM");
    } finally {
      for (const transport of opened.splice(0)) {
        transport.close();
      }
      await stop();
    }
  });

  it("fails an HTTP error status as connect-node does", async () => {
    const [port, stop] = await rawServer((stream) => stream.respond({ ":status": 503, "content-type": "text/plain" }, { endStream: true }));
    try {
      const [connect, fast] = await both(
        (transport) => failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"))),
        [],
        port,
      );
      expect(fast.code).to.equal(Code.Unavailable);
      expect(outcomeOf(fast)).to.deep.equal(outcomeOf(connect));
    } finally {
      for (const transport of opened.splice(0)) {
        transport.close();
      }
      await stop();
    }
  });

  it("refuses streaming without a fallback, and delegates it to one", async () => {
    const err = await failureOf(
      (async () => {
        for await (const _ of createClient(Health, h2()).watch({ service: paymentService })) {
          expect.fail("expected no response");
        }
      })(),
    );
    expect(err.code).to.equal(Code.Unimplemented);

    server.health.set(paymentService, Status.SERVING);
    const fallback = createGrpcTransport({ baseUrl: server.url });
    const abort = new AbortController();
    for await (const res of createClient(Health, h2([], server.port, fallback)).watch({ service: paymentService }, { signal: abort.signal })) {
      expect(res.status).to.equal(Status.SERVING);
      break;
    }
    abort.abort();
  });

  it("works under withInterceptors, a balancer and the deadline interceptor", async () => {
    const url = server.url;
    const balancer = createBalancedTransport({
      target: "payments",
      resolver: staticEndpoints([url]),
      makeTransport: (baseUrl) => h2([], Number(new URL(baseUrl).port)),
    });
    const transport = withInterceptors(balancer, [deadlineInterceptor({ defaultTimeoutMs: 1_000 })], url);
    const client = createClient(PaymentService, transport);
    try {
      let header: Headers | undefined;
      const res = await client.authorizePayment(authorize("tok_visa"), { onHeader: (h) => (header = h) });
      expect(res.payment?.paymentId).to.equal("pay_k1");
      expect(header?.get("x-timeout")).to.equal("1000m");
      const slow = await failureOf(client.authorizePayment(authorize("tok_slow_5000")));
      expect(slow.code).to.equal(Code.DeadlineExceeded);
      const declined = await failureOf(client.authorizePayment(authorize("tok_declined")));
      expect(declined.code).to.equal(Code.FailedPrecondition);
    } finally {
      balancer.close();
    }
  });

  it("lets the balancer send a call refused by a dead endpoint to the next one", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const balancer = createBalancedTransport({
      target: "payments",
      resolver: staticEndpoints([dead, server.url]),
      makeTransport: (baseUrl) => h2([], Number(new URL(baseUrl).port)),
    });
    try {
      const client = createClient(PaymentService, balancer);
      for (let i = 0; i < 4; i++) {
        expect((await client.authorizePayment(authorize("tok_visa"))).payment?.paymentId).to.equal("pay_k1");
      }
    } finally {
      balancer.close();
    }
  });

  it("fails a call whose connection breaks before it is made (a reset in the TLS handshake) as refused: the balancer sends it to the next endpoint", async () => {
    // A server going away resets connections still in their handshake.
    const resetting = net.createServer((socket) => socket.once("data", () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => resetting.listen(0, "127.0.0.1", resolve));
    const resettingUrl = `https://127.0.0.1:${(resetting.address() as net.AddressInfo).port}`;
    const alone = createH2GrpcTransport({ baseUrl: resettingUrl, sessionOptions: { rejectUnauthorized: false } });
    opened.push(alone);
    const balancer = createBalancedTransport({
      target: "payments",
      resolver: staticEndpoints([resettingUrl, server.url]),
      makeTransport: (baseUrl) =>
        baseUrl === resettingUrl ? alone : h2([], Number(new URL(baseUrl).port)),
    });
    try {
      const failed = await failureOf(createClient(PaymentService, alone).authorizePayment(authorize("tok_visa")));
      expect(failed.code).to.equal(Code.Unavailable);
      expect(nodeCodeOf(failed)).to.equal(connectFailedCode);
      const client = createClient(PaymentService, balancer);
      for (let i = 0; i < 4; i++) {
        expect((await client.authorizePayment(authorize("tok_visa"))).payment?.paymentId).to.equal("pay_k1");
      }
    } finally {
      balancer.close();
      await new Promise((resolve) => resetting.close(resolve));
    }
  });
});
