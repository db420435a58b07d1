// A peer that dies without closing its connections (a host killed, its link
// gone) is noticed by PINGs: here a TCP peer that reads and never answers,
// as a dead host's kernel-less address would.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { expect } from "chai";
import http2 from "node:http2";
import net from "node:net";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { createH2GrpcTransport } from "./h2-grpc-transport.js";
import { H2SessionPool, pingTimeoutCode } from "./h2-session-pool.js";

describe("H2SessionPool: dead peers", () => {
  it("a session whose peer stops answering is destroyed after an unanswered PING: its call fails Unavailable, not at its deadline", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const transport = createH2GrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
    try {
      const error = await createClient(Health, transport)
        .check({}, { timeoutMs: 60_000 })
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(error?.code).to.equal(Code.Unavailable);
      let cause: unknown = error?.cause;
      const codes: unknown[] = [];
      while (cause instanceof Error) {
        codes.push((cause as NodeJS.ErrnoException).code);
        cause = cause.cause;
      }
      expect(codes).to.include(pingTimeoutCode);
    } finally {
      transport.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("a server that drains (GOAWAY, then its call answers) cancels the pending PING: the call still completes", async () => {
    // As a rolling restart's old replica: it sends GOAWAY at once and answers
    // the call in flight later, while the client's PINGs are outstanding.
    const server = http2.createServer();
    server.on("session", (session) => setTimeout(() => session.close(), 50));
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      setTimeout(() => {
        stream.respond({ ":status": 200 });
        stream.end("answered");
      }, 500);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const pool = new H2SessionPool(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { pingIntervalMs: 10 });
    try {
      const session = pool.get();
      session.on("error", () => undefined);
      const stream = session.request({ ":method": "POST", ":path": "/" });
      pool.opened(session);
      const outcome = await new Promise<string>((resolve) => {
        let status = 0;
        let body = "";
        stream.on("response", (h) => (status = h[":status"] ?? 0));
        stream.on("data", (chunk: Buffer) => (body += chunk.toString()));
        stream.on("error", (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
        stream.on("close", () => {
          pool.closedStream(session);
          resolve(`${status} ${body}`);
        });
        stream.end();
      });
      expect(outcome).to.equal("200 answered");
    } finally {
      pool.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
