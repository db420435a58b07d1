// A peer that dies without closing its connections (a host killed, its link
// gone) is noticed by PINGs: here a TCP peer that reads and never answers,
// as a dead host's kernel-less address would.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { expect } from "chai";
import net from "node:net";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { createH2GrpcTransport } from "./h2-grpc-transport.js";
import { pingTimeoutCode } from "./h2-session-pool.js";

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
});
