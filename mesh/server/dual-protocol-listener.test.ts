import { expect } from "chai";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { frame, frameType, h2Error, RawHttp2Connection, requestHeaders } from "../../test/support/raw-http2.js";
import { DualProtocolListener, sniff } from "./dual-protocol-listener.js";

/** A GET over `agent`, resolving with the status, the connection header and the body. */
function get(port: number, agent: http.Agent, path = "/"): Promise<{ status: number; connection: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: String(res.headers.connection), body }));
      })
      .on("error", reject);
  });
}

describe("DualProtocolListener drain, HTTP/1.1 keep-alive", () => {
  let listener: DualProtocolListener;
  let agent: http.Agent;
  let release: (() => void) | undefined;

  beforeEach(() => {
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    listener = new DualProtocolListener((req, res) => {
      if (req.url === "/slow") {
        // Answers once the test says so, to have a request in flight during the drain.
        release = () => res.end("slow");
      } else {
        res.end("ok");
      }
    });
  });
  afterEach(() => {
    agent.destroy();
    listener.destroy();
  });

  it("closes an idle keep-alive connection at once instead of waiting for the client to leave", async () => {
    const port = await listener.listen(0, "127.0.0.1");
    const first = await get(port, agent);
    expect(first).to.include({ status: 200, connection: "keep-alive", body: "ok" });
    const socket = Object.values(agent.freeSockets).flat()[0];
    expect(socket, "the agent keeps the connection for the next request").to.not.equal(undefined);
    const closed = new Promise((resolve) => socket!.once("close", resolve));
    // Without its own idle tracking the drain would wait for the client: this
    // test would then time out rather than pass.
    await listener.drain();
    await closed;
  });

  it("lets a request in flight finish, answering it with Connection: close, then ends the drain", async () => {
    const port = await listener.listen(0, "127.0.0.1");
    const slow = get(port, agent, "/slow");
    while (release === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const drained = listener.drain();
    release();
    const answer = await slow;
    expect(answer).to.include({ status: 200, connection: "close", body: "slow" });
    await drained;
  });
});

/** Connects, writes `pieces` one at a time (a pause between), and resolves with what came back once the server closed. */
function exchange(port: number, pieces: readonly string[], pauseMs = 30): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.once("error", reject);
    socket.once("close", () => resolve({ text, closedAfterMs: performance.now() - started }));
    socket.once("connect", () => {
      void (async () => {
        for (const piece of pieces) {
          if (socket.destroyed) {
            return;
          }
          socket.write(piece);
          await new Promise((r) => setTimeout(r, pauseMs));
        }
      })().catch(reject);
    });
  });
}

describe("DualProtocolListener protocol sniffing", () => {
  let listener: DualProtocolListener;
  let port: number;

  before(async () => {
    listener = new DualProtocolListener((req, res) => res.end(`${req.httpVersion} ${req.method} ${req.url}`));
    port = await listener.listen(0, "127.0.0.1");
  });
  after(() => listener.destroy());

  it("serves an HTTP/1.1 request whose first chunk is only 'P' or 'PR' (it used to go to HTTP/2)", async () => {
    const rest = " /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const p = await exchange(port, ["P", `OST${rest}`]);
    expect(p.text).to.match(/^HTTP\/1\.1 200/).and.to.include("1.1 POST /x");
    const pr = await exchange(port, ["P", "R", `OPFIND${rest}`]);
    // Node's parser knows PROPFIND: the request reaches the handler, sorted as HTTP/1.1.
    expect(pr.text).to.match(/^HTTP\/1\.1 200/).and.to.include("1.1 PROPFIND /x");
  });

  it("serves HTTP/2 whose preface arrives a byte at a time", async () => {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const settings = new Promise<Buffer>((resolve) => socket.once("data", resolve));
    for (const piece of ["P", "R", "I * HTTP/2.0\r\n\r\nSM\r\n\r\n"]) {
      socket.write(piece);
      await new Promise((r) => setTimeout(r, 30));
    }
    socket.write(frame(frameType.settings, 0, 0));
    const first = await settings;
    socket.destroy();
    expect(first[3], "the server's first frame is its SETTINGS").to.equal(frameType.settings);
  });

  it("sorts by the whole prefix: 'PRI' is HTTP/2, 'P' and 'PR' wait, anything else is HTTP/1.1", () => {
    expect(sniff(Buffer.from("P"))).to.equal(undefined);
    expect(sniff(Buffer.from("PR"))).to.equal(undefined);
    expect(sniff(Buffer.from("PRI"))).to.equal("h2");
    expect(sniff(Buffer.from("PUT"))).to.equal("http1");
    expect(sniff(Buffer.from("PRO"))).to.equal("http1");
    expect(sniff(Buffer.from("G"))).to.equal("http1");
  });
});

describe("DualProtocolListener timeouts", () => {
  let listener: DualProtocolListener;
  let port: number;
  const limits = {
    firstByteTimeoutMs: 300,
    headersTimeoutMs: 300,
    requestTimeoutMs: 600,
    keepAliveTimeoutMs: 300,
    http2IdleTimeoutMs: 400,
  };

  before(async () => {
    listener = new DualProtocolListener(
      (req, res) => {
        if (req.url === "/body") {
          // Reads the body; answers only once it has all of it.
          req.on("data", () => undefined);
          req.on("end", () => res.end("got it"));
          return;
        }
        res.end("ok");
      },
      { limits },
    );
    port = await listener.listen(0, "127.0.0.1");
  });
  after(() => listener.destroy());

  it("closes a connection that sends nothing after the first-byte timeout", async () => {
    const { text, closedAfterMs } = await exchange(port, []);
    expect(text).to.equal("");
    expect(closedAfterMs).to.be.at.least(limits.firstByteTimeoutMs);
  });

  it("closes a connection stuck on the first bytes 'PR'", async () => {
    const { text } = await exchange(port, ["PR"]);
    expect(text).to.equal("");
  });

  it("answers 408 to HTTP/1.1 headers dribbled past the headers timeout", async () => {
    const dribble = ["GET / HTTP/1.1\r\n", ...Array.from({ length: 40 }, (_, i) => `x-slow-${i}: 1\r\n`)];
    const { text, closedAfterMs } = await exchange(port, dribble, 50);
    expect(text).to.match(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).to.be.below(40 * 50);
  });

  it("answers 408 to an HTTP/1.1 body not received within the request timeout", async () => {
    const head = "POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n";
    const { text } = await exchange(port, [head, ...Array.from({ length: 40 }, () => "x")], 50);
    expect(text).to.match(/^HTTP\/1\.1 408/);
  });

  it("closes an idle HTTP/1.1 keep-alive connection after the keep-alive timeout", async () => {
    const { text, closedAfterMs } = await exchange(port, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n"]);
    expect(text).to.match(/^HTTP\/1\.1 200/).and.to.match(/ok$/);
    expect(closedAfterMs).to.be.at.least(limits.keepAliveTimeoutMs);
  });

  it("sends GOAWAY (NO_ERROR) to an HTTP/2 session with no open stream, and keeps one that has a stream open", async () => {
    const idle = http2.connect(`http://127.0.0.1:${port}`);
    const goaway = new Promise<number>((resolve) => idle.once("goaway", (code: number) => resolve(code)));
    const answered = await new Promise<string>((resolve, reject) => {
      const req = idle.request({ ":path": "/" });
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.once("end", () => resolve(body));
      req.once("error", reject);
    });
    expect(answered).to.equal("ok");
    // A body still being sent within its time keeps its session out of idleness.
    const busy = http2.connect(`http://127.0.0.1:${port}`);
    const slow = busy.request({ ":path": "/body", ":method": "POST" });
    slow.on("error", () => undefined);
    slow.write("x");
    expect(await goaway).to.equal(http2.constants.NGHTTP2_NO_ERROR);
    await new Promise((resolve) => idle.once("close", resolve));
    expect(busy.closed, "the session with an open stream is not idle").to.equal(false);
    busy.destroy();
  });

  it("cancels an HTTP/2 stream whose body does not arrive within the request timeout", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    const req = session.request({ ":path": "/body", ":method": "POST" });
    req.on("error", () => undefined);
    req.write("x");
    await new Promise((resolve) => req.once("close", resolve));
    expect(req.rstCode).to.equal(http2.constants.NGHTTP2_CANCEL);
    session.destroy();
  });
});

describe("DualProtocolListener caps", () => {
  let listener: DualProtocolListener;
  let port: number;
  let answers = 0;

  before(async () => {
    listener = new DualProtocolListener(
      (req, res) => {
        answers++;
        if (req.url === "/hold") {
          // Never answers: the stream stays open until the client goes.
          req.on("data", () => undefined);
          return;
        }
        res.end("ok");
      },
      { limits: { maxConcurrentStreams: 100, maxConnections: 20, maxHeaderBytes: 4096 } },
    );
    port = await listener.listen(0, "127.0.0.1");
  });
  after(() => listener.destroy());

  const holdStream = (id: number): Buffer =>
    requestHeaders(id, [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/hold"],
      [":authority", "a"],
    ]);

  it("refuses streams beyond 100 on one session with REFUSED_STREAM, and keeps serving", async () => {
    const connection = await RawHttp2Connection.open(port);
    connection.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => holdStream(1 + 2 * i))));
    await connection.waitFor(() => (connection.resets().get(h2Error.refusedStream) ?? 0) >= 100, 10_000);
    expect(connection.resets().get(h2Error.refusedStream)).to.equal(100);
    expect(connection.goawayCode()).to.equal(undefined);
    connection.destroy();
    expect((await get(port, new http.Agent(), "/")).body).to.equal("ok");
  });

  it("ends a session that opens streams beyond the limit it acknowledged with GOAWAY, without crashing", async () => {
    const connection = await RawHttp2Connection.open(port, "127.0.0.1", { acknowledge: true });
    connection.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => holdStream(1 + 2 * i))));
    await connection.closed;
    // nghttp2 treats it as a connection error; Node reports it as INTERNAL_ERROR.
    expect(connection.goawayCode()).to.be.a("number").and.not.equal(h2Error.noError);
    expect((await get(port, new http.Agent(), "/")).body).to.equal("ok");
  });

  it("resets an HTTP/2 stream whose header list is larger than maxHeaderBytes", async () => {
    const before = answers;
    const connection = await RawHttp2Connection.open(port, "127.0.0.1", { acknowledge: true });
    connection.write(
      requestHeaders(
        1,
        [
          [":method", "GET"],
          [":scheme", "http"],
          [":path", "/"],
          [":authority", "a"],
          ["x-big", "y".repeat(8000)],
        ],
        true,
      ),
    );
    await connection.waitFor((frames) => frames.some((f) => f.type === frameType.rstStream || f.type === frameType.goaway), 10_000);
    connection.destroy();
    expect(answers, "the handler never saw it").to.equal(before);
  });

  it("answers 431 to HTTP/1.1 headers larger than maxHeaderBytes", async () => {
    const { text } = await exchange(port, [`GET / HTTP/1.1\r\nHost: a\r\nx-big: ${"y".repeat(8000)}\r\n\r\n`]);
    expect(text).to.match(/^HTTP\/1\.1 431/);
  });

  it("closes connections beyond maxConnections at once, and accepts again when some close", async () => {
    const sockets = await Promise.all(
      Array.from({ length: 20 }, () => new Promise<net.Socket>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
        socket.on("error", () => undefined);
      })),
    );
    while (listener.connectionCount < 20) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = await exchange(port, ["GET / HTTP/1.1\r\nHost: a\r\n\r\n"]);
    expect(refused.text, "the 21st connection is closed unanswered").to.equal("");
    sockets.forEach((s) => s.destroy());
    while (listener.connectionCount > 0) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await get(port, new http.Agent(), "/")).body).to.equal("ok");
  });
});
