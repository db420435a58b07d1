import { expect } from "chai";
import http from "node:http";
import { DualProtocolListener } from "./dual-protocol-listener.js";

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
