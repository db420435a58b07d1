import { expect } from "chai";
import http from "node:http";
import { readEventStream } from "../../gateway/mesh-page/event-stream.js";
import type { MeshSnapshot } from "../../gateway/mesh-page/index.js";
import { eventually } from "../support/eventually.js";
import { DevTokens, errorShapeProblem, httpRequest, type RawResponse } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

/** A /mesh/stream held open: its status, and its first event once it is 200. */
interface OpenStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The first `data:` event (200), or the error body. */
  readonly first: string;
  close(): void;
}

/** GET /mesh/stream with `headers`, kept open until `close()`. */
function openStream(baseUrl: string, headers: Record<string, string>): Promise<OpenStream> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: Number(url.port), path: "/mesh/stream", headers, agent: false });
    req.once("error", reject);
    req.once("response", (res) => {
      let text = "";
      const close = () => req.destroy();
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        const event = /^data: (.*)$/m.exec(text);
        if (res.statusCode === 200 && event !== null) {
          resolve({ status: 200, headers: res.headers, first: event[1]!, close });
        }
      });
      res.once("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, first: text, close }));
    });
    req.end();
  });
}

const codeOf = (response: RawResponse): unknown => (response.json as { code?: unknown } | undefined)?.code;

/**
 * The ops pages for operators only (issue 13): the gateway's /metrics and the
 * /mesh page's data answer an admin token, not anyone else, on a real
 * gateway with real tokens; the page's shell is public and carries no data;
 * an operator holds a bounded number of live streams.
 */
describe("ops pages for operators only, real gateway and tokens", function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let gw: string;
  const auth: Record<string, Record<string, string>> = {};

  before(async () => {
    mesh = await startMesh({
      gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000", MESH_POLL_MS: "200", MESH_STREAMS_PER_SUBJECT: "2", MESH_MAX_STREAMS: "3" },
    });
    gw = mesh.gateway!.url;
    const tokens = new DevTokens(mesh.dataDir);
    auth.anonymous = {};
    auth.foreign = { authorization: `Bearer ${await tokens.foreign("ops")}` };
    auth.garbage = { authorization: "Bearer not-a-token" };
    auth.customer = { authorization: `Bearer ${await tokens.sign("alice")}` };
    auth.otherScope = { authorization: `Bearer ${await tokens.sign("alice", ["meshwork:orders"])}` };
    auth.admin = { authorization: `Bearer ${await tokens.sign("ops", ["meshwork:admin"])}` };
    auth.admin2 = { authorization: `Bearer ${await tokens.sign("ops-2", ["meshwork:admin"])}` };
  });
  after(() => mesh.stop());

  for (const path of ["/metrics", "/mesh/status.json", "/mesh/stream"]) {
    it(`${path}: 401 without a token or with an invalid one, 403 for a customer, 200 for an admin`, async () => {
      for (const who of ["anonymous", "foreign", "garbage"]) {
        const refused = await httpRequest(gw, { path, headers: auth[who]! });
        expect(refused.status, who).to.equal(401);
        expect(errorShapeProblem(refused), who).to.equal(undefined);
        expect(codeOf(refused), who).to.equal("unauthenticated");
        // Nothing of the data leaks into a refusal.
        expect(JSON.stringify(refused.headers) + refused.text, who).not.to.match(/meshwork_|services|127\.0\.0\.1/);
      }
      for (const who of ["customer", "otherScope"]) {
        const refused = await httpRequest(gw, { path, headers: auth[who]! });
        expect(refused.status, who).to.equal(403);
        expect(codeOf(refused), who).to.equal("permission_denied");
        expect(refused.text, who).to.contain("meshwork:admin");
      }
      const admitted: RawResponse | OpenStream =
        path === "/mesh/stream" ? await openStream(gw, auth.admin!) : await httpRequest(gw, { path, headers: auth.admin! });
      if ("close" in admitted) admitted.close();
      expect(admitted.status).to.equal(200);
      if (path === "/metrics") {
        expect((admitted as RawResponse).text).to.contain("meshwork_gateway_requests_total");
      } else if (path === "/mesh/status.json") {
        expect(((admitted as RawResponse).json as MeshSnapshot).services.map((s) => s.name)).to.include("payments");
        expect(String(admitted.headers["cache-control"])).to.equal("no-store");
      } else {
        expect(String(admitted.headers["content-type"])).to.equal("text/event-stream; charset=utf-8");
        expect((JSON.parse((admitted as OpenStream).first) as MeshSnapshot).services.map((s) => s.name)).to.include("payments");
      }
    });
  }

  it("HEAD /metrics needs the token too; another method on the data is refused once authorized", async () => {
    expect((await httpRequest(gw, { method: "HEAD", path: "/metrics" })).status).to.equal(401);
    expect((await httpRequest(gw, { method: "HEAD", path: "/metrics", headers: auth.admin! })).status).to.equal(200);
    expect((await httpRequest(gw, { method: "POST", path: "/mesh/status.json", body: "{}" })).status).to.equal(401);
    const post = await httpRequest(gw, { method: "POST", path: "/mesh/status.json", headers: auth.admin!, body: "{}" });
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal("GET");
    // A query does not get around the check.
    expect((await httpRequest(gw, { path: "/mesh/status.json?x=1" })).status).to.equal(401);
    expect((await httpRequest(gw, { path: "/metrics?format=text" })).status).to.equal(401);
  });

  it("serves the page's shell to anyone, with the strict headers and no data in it", async () => {
    for (const path of ["/mesh", "/mesh/app.js"]) {
      const shell = await httpRequest(gw, { path });
      expect(shell.status, path).to.equal(200);
      expect(String(shell.headers["content-security-policy"]), path).to.contain("script-src 'self'");
      expect(String(shell.headers["content-security-policy"]), path).to.contain("frame-ancestors 'none'");
      expect(shell.headers["x-content-type-options"], path).to.equal("nosniff");
      expect(shell.text, path).not.to.contain(mesh.payments.url);
      expect(shell.text, path).not.to.contain(mesh.orders.url);
    }
    expect((await httpRequest(gw, { path: "/mesh" })).text).to.contain('id="sign-in"');
  });

  it("limits live streams per operator (429) beneath the cap of all streams (503), and frees them as they close", async () => {
    const a1 = await openStream(gw, auth.admin!);
    const a2 = await openStream(gw, auth.admin!);
    expect([a1.status, a2.status]).to.deep.equal([200, 200]);
    const a3 = await openStream(gw, auth.admin!);
    expect(a3.status).to.equal(429);
    expect(JSON.parse(a3.first)).to.include({ code: "resource_exhausted" });
    expect(a3.headers["retry-after"]).to.equal("5");

    // Another operator still gets a stream, up to the cap of all streams.
    const b1 = await openStream(gw, auth.admin2!);
    expect(b1.status).to.equal(200);
    const b2 = await openStream(gw, auth.admin2!);
    expect(b2.status).to.equal(503);
    expect(JSON.parse(b2.first)).to.include({ code: "unavailable" });

    // status.json is not a stream: it still answers.
    expect((await httpRequest(gw, { path: "/mesh/status.json", headers: auth.admin! })).status).to.equal(200);

    a1.close();
    const again = await eventually(
      "the closed stream's slot to be free",
      async () => {
        const stream = await openStream(gw, auth.admin!);
        stream.close();
        return stream.status;
      },
      (status) => status === 200,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(again).to.equal(200);
    for (const s of [a2, b1]) s.close();
  });

  it("streams snapshots that the page's own reader (fetch with Authorization) parses, one per poll", async () => {
    const control = new AbortController();
    const res = await fetch(`${gw}/mesh/stream`, { headers: auth.admin!, signal: control.signal });
    expect(res.status).to.equal(200);
    const snapshots: MeshSnapshot[] = [];
    let retry: number | undefined;
    const reading = readEventStream(res.body!, {
      onData: (data) => snapshots.push(JSON.parse(data) as MeshSnapshot),
      onRetry: (ms) => (retry = ms),
    }).catch(() => undefined);
    await eventually("three snapshots", () => snapshots.length >= 3, (done) => done, { timeoutMs: 20_000 });
    control.abort();
    await reading;
    expect(retry).to.equal(1000);
    expect(new Set(snapshots.map((s) => s.at)).size).to.be.greaterThan(1);
  });
});
