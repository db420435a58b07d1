import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { expect } from "chai";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { deadlineInterceptor } from "../resilience/deadline.js";
import type { MeshServer } from "../server/serve.js";
import { createGrpcJsTransport, type GrpcJsTransport } from "./grpc-js-transport.js";
import { freePort } from "../../test/support/free-port.js";
import {
  authorize,
  entries,
  failureOf,
  oddMessage,
  outcomeOf,
  paymentService,
  startPaymentFixture,
} from "../../test/support/payment-fixture.js";

function startServer(): Promise<MeshServer> {
  return startPaymentFixture();
}

describe("createGrpcJsTransport", () => {
  let server: MeshServer;
  const opened: GrpcJsTransport[] = [];

  /** connect-node's gRPC transport and the grpc-js one, to the same server, with the same interceptors. */
  function transports(interceptors: Interceptor[] = [], port = server.port): [string, Transport][] {
    const grpcJs = createGrpcJsTransport({ address: `127.0.0.1:${port}`, interceptors });
    opened.push(grpcJs);
    return [
      ["connect-node", createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, interceptors })],
      ["grpc-js", grpcJs],
    ];
  }

  /** Runs `call` over both transports and returns what each gave, connect-node's first. */
  async function both<T>(call: (transport: Transport) => Promise<T>, interceptors?: Interceptor[], port?: number): Promise<[T, T]> {
    const [[, connect], [, grpcJs]] = transports(interceptors, port) as [[string, Transport], [string, Transport]];
    return [await call(connect), await call(grpcJs)];
  }

  beforeEach(async () => {
    server = await startServer();
  });
  afterEach(async () => {
    for (const transport of opened.splice(0)) {
      transport.close();
    }
    await server.shutdown();
  });

  it("answers a call with the same message, headers and trailers", async () => {
    const [connect, grpcJs] = await both(async (transport) => {
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      const res = await createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"), {
        headers: { "x-echo": "hello" },
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      });
      return { res, header: entries(header).filter(([key]) => key !== "date"), trailer: entries(trailer) };
    });
    expect(grpcJs.res).to.deep.equal(connect.res);
    expect(grpcJs.res.payment?.paymentId).to.equal("pay_k1");
    expect(grpcJs.header).to.deep.equal(connect.header);
    expect(grpcJs.header).to.deep.include(["x-echo", "hello"]);
    expect(grpcJs.trailer).to.deep.equal(connect.trailer);
    expect(grpcJs.trailer).to.deep.include(["x-trailer", "t1"]);
  });

  it("fails an invalid request with the same InvalidArgument and violations", async () => {
    const [connect, grpcJs] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment({ ...authorize("tok_visa"), amountMinor: 0n })),
    );
    expect(outcomeOf(grpcJs)).to.deep.equal(outcomeOf(connect));
    expect(grpcJs.code).to.equal(Code.InvalidArgument);
    const violations = grpcJs.findDetails(ViolationsSchema)[0]?.violations ?? [];
    expect(violations.map((v) => v.ruleId)).to.deep.equal(["int64.gt_lte"]);
    expect(violations).to.deep.equal(connect.findDetails(ViolationsSchema)[0]?.violations);
  });

  it("fails a business failure with the same code, ErrorInfo and metadata", async () => {
    const [connect, grpcJs] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_declined"))),
    );
    expect(outcomeOf(grpcJs)).to.deep.equal(outcomeOf(connect));
    expect(grpcJs.code).to.equal(Code.FailedPrecondition);
    expect(grpcJs.rawMessage).to.equal("card declined");
    expect(grpcJs.findDetails(ErrorInfoSchema)[0]?.reason).to.equal("CARD_DECLINED");
    expect(grpcJs.findDetails(ErrorInfoSchema)[0]?.metadata).to.deep.equal({ token: "tok_declined" });
    expect(grpcJs.metadata.get("x-trailer")).to.equal("t1");
  });

  it("percent-decodes a message with reserved characters and non-ASCII", async () => {
    const [connect, grpcJs] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_odd"))),
    );
    expect(outcomeOf(grpcJs)).to.deep.equal(outcomeOf(connect));
    expect(grpcJs.code).to.equal(Code.Aborted);
    expect(grpcJs.rawMessage).to.equal(oddMessage);
  });

  it("fails a call past its timeout with DeadlineExceeded", async () => {
    const [connect, grpcJs] = await both((transport) =>
      failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_slow_3000"), { timeoutMs: 200 })),
    );
    expect(grpcJs.code).to.equal(Code.DeadlineExceeded);
    expect(connect.code).to.equal(Code.DeadlineExceeded);
    expect(grpcJs.rawMessage).to.equal(connect.rawMessage);
  });

  it("takes the deadline from a grpc-timeout header an interceptor sets", async () => {
    const deadline = [deadlineInterceptor({ defaultTimeoutMs: 200 })];
    const [connect, grpcJs] = await both(
      (transport) => failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_slow_3000"))),
      deadline,
    );
    expect(grpcJs.code).to.equal(Code.DeadlineExceeded);
    expect(connect.code).to.equal(Code.DeadlineExceeded);

    let header: Headers | undefined;
    await createClient(PaymentService, transports(deadline)[1]![1]).authorizePayment(authorize("tok_visa"), {
      onHeader: (h) => (header = h),
    });
    const seen = parseTimeout(header?.get("x-timeout") ?? null, Number.MAX_SAFE_INTEGER).timeoutMs;
    expect(seen).to.be.a("number").within(1, 200);
  });

  it("fails a call the caller aborts with Canceled", async () => {
    const [connect, grpcJs] = await both((transport) => {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 150);
      return failureOf(
        createClient(PaymentService, transport).authorizePayment(authorize("tok_slow_3000"), { signal: abort.signal }),
      );
    });
    expect(grpcJs.code).to.equal(Code.Canceled);
    expect(outcomeOf(grpcJs)).to.deep.equal(outcomeOf(connect));
  });

  it("fails with Unavailable when nothing listens", async () => {
    const port = await freePort();
    const [connect, grpcJs] = await both(
      (transport) => failureOf(createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"))),
      [],
      port,
    );
    expect(connect.code).to.equal(Code.Unavailable);
    expect(grpcJs.code).to.equal(Code.Unavailable);
  });

  it("runs client interceptors, which can add a header the server sees", async () => {
    const seen: string[] = [];
    const addHeader: Interceptor = (next) => async (req) => {
      seen.push(`${req.method.name} ${req.url} stream=${req.stream} ${req.header.get("content-type")}`);
      req.header.set("x-added", "by-interceptor");
      return await next(req);
    };
    const [connect, grpcJs] = await both(async (transport) => {
      let header: Headers | undefined;
      await createClient(PaymentService, transport).authorizePayment(authorize("tok_visa"), { onHeader: (h) => (header = h) });
      return header?.get("x-added");
    }, [addHeader]);
    expect(grpcJs).to.equal("by-interceptor");
    expect(connect).to.equal("by-interceptor");
    expect(seen[1]).to.equal(seen[0]);
  });

  it("streams Health.Watch: SERVING, then NOT_SERVING", async () => {
    const [connect, grpcJs] = await both(async (transport) => {
      server.health.set(paymentService, Status.SERVING);
      const abort = new AbortController();
      const seen: Status[] = [];
      for await (const res of createClient(Health, transport).watch({ service: paymentService }, { signal: abort.signal })) {
        seen.push(res.status);
        if (seen.length === 1) {
          server.health.set(paymentService, Status.NOT_SERVING);
        } else {
          break;
        }
      }
      abort.abort();
      return seen;
    });
    expect(grpcJs).to.deep.equal([Status.SERVING, Status.NOT_SERVING]);
    expect(grpcJs).to.deep.equal(connect);
  });

  it("fails a server stream past its timeout with DeadlineExceeded", async () => {
    const [connect, grpcJs] = await both(async (transport) => {
      const seen: Status[] = [];
      const err = await failureOf(
        (async () => {
          for await (const res of createClient(Health, transport).watch({ service: paymentService }, { timeoutMs: 300 })) {
            seen.push(res.status);
          }
        })(),
      );
      return { seen, code: err.code, rawMessage: err.rawMessage };
    });
    expect(grpcJs).to.deep.equal({ seen: [Status.SERVING], code: Code.DeadlineExceeded, rawMessage: "the operation timed out" });
    expect(grpcJs).to.deep.equal(connect);
  });

  it("ends a server stream the server finishes, as connect-node does", async () => {
    const outcomes: Status[][] = [];
    for (const which of [0, 1]) {
      const transport = transports()[which]![1];
      const seen: Status[] = [];
      let stopped: Promise<void> | undefined;
      // Shutdown sends NOT_SERVING to every watcher and ends the stream.
      for await (const res of createClient(Health, transport).watch({ service: paymentService })) {
        seen.push(res.status);
        stopped ??= server.shutdown();
      }
      await stopped;
      outcomes.push(seen);
      server = await startServer();
    }
    expect(outcomes[1]).to.deep.equal([Status.SERVING, Status.NOT_SERVING]);
    expect(outcomes[1]).to.deep.equal(outcomes[0]);
  });

  it("refuses bidi streaming with Unimplemented", async () => {
    const transport = transports()[1]![1];
    const err = await failureOf(
      (async () => {
        const requests = (async function* () {})();
        for await (const _ of createClient(ServerReflection, transport).serverReflectionInfo(requests)) {
          expect.fail("expected no response");
        }
      })(),
    );
    expect(err.code).to.equal(Code.Unimplemented);
    expect(err.rawMessage).to.contain("bidi streaming");
  });
});
