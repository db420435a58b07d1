import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import zlib from "node:zlib";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { DevTokens, httpRequest, type RawResponse } from "../support/gateway-http.js";

/**
 * Limits before work at the gateway, against real processes: the order of
 * checks (the client address's bucket first, behind trusted proxies too, then
 * the token, then the caller's bucket) and the passthrough's body limit on
 * bytes received and after decompression, read from the gateway's own memory
 * (/proc/<pid>/status).
 */

const getItem = "/meshwork.inventory.v1.InventoryService/GetItem";
const connectJson = { "content-type": "application/json", "connect-protocol-version": "1" };
const mib = 1024 * 1024;

/** One HTTP/1.1 request from `localAddress` (a trusted proxy is another loopback address). */
function requestFrom(baseUrl: string, localAddress: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: Number(url.port), localAddress, method: body === undefined ? "GET" : "POST", path, headers, agent: false });
    req.once("error", reject);
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => {
        const data = Buffer.concat(chunks);
        const text = data.toString("utf8");
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, text, json, ms: 0 });
      });
    });
    req.end(body);
  });
}

const count = (responses: readonly RawResponse[], status: number): number => responses.filter((r) => r.status === status).length;

describe("gateway order of checks and trusted proxies, real processes", function () {
  this.timeout(120_000);
  const burst = 10;
  const proxy = "127.0.0.2";
  let mesh: TestMesh;
  let gw: string;
  let tokens: DevTokens;

  before(async () => {
    mesh = await startMesh({
      gateway: {
        TRUSTED_PROXIES: `${proxy}/32`,
        RATE_LIMIT_ADDRESS_BURST: String(burst),
        RATE_LIMIT_ADDRESS_PER_SECOND: "1",
        RATE_LIMIT_PER_SECOND: "1000",
        RATE_LIMIT_BURST: "1000",
      },
    });
    gw = mesh.gateway!.url;
    tokens = new DevTokens(mesh.dataDir);
  });
  after(async () => {
    await mesh?.stop();
  });

  const burstOf = (n: number, send: (i: number) => Promise<RawResponse>): Promise<RawResponse[]> => Promise.all(Array.from({ length: n }, (_, i) => send(i)));

  it("behind a trusted proxy, gives each X-Forwarded-For client its own bucket", async () => {
    const distinct = await burstOf(3 * burst, (i) => requestFrom(gw, proxy, "/", { "x-forwarded-for": `198.18.1.${i + 1}` }));
    expect(count(distinct, 200), "one request per client, each with a full bucket").to.equal(3 * burst);
    // The client wrote the left entry itself; the proxy appended what it saw.
    const one = await burstOf(3 * burst, (i) => requestFrom(gw, proxy, "/", { "x-forwarded-for": `198.19.7.${i + 1}, 198.18.2.1` }));
    expect(count(one, 429), "one client's requests share one bucket").to.be.at.least(burst);
    const refused = one.find((r) => r.status === 429)!;
    expect(refused.headers["retry-after"]).to.match(/^\d+$/);
    expect((refused.json as { code: string }).code).to.equal("resource_exhausted");
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
    const spoofed = await burstOf(3 * burst, (i) => requestFrom(gw, "127.0.0.1", "/", { "x-forwarded-for": `198.18.3.${i + 1}` }));
    expect(count(spoofed, 429), "every spoofed address is the peer's one bucket").to.be.at.least(burst);
  });

  it("limits failed authentication too, before the token is looked at", async () => {
    const bad = `Bearer ${await tokens.foreign("mallory")}`;
    const answers = await burstOf(3 * burst, () =>
      requestFrom(gw, proxy, "/v1/inventory/items", { "x-forwarded-for": "198.18.4.1", authorization: bad }),
    );
    expect(count(answers, 401) + count(answers, 429)).to.equal(3 * burst);
    expect(count(answers, 429)).to.be.at.least(burst);
  });

  it("limits /metrics, /mesh and the passthrough by address, the passthrough answering in its protocol", async () => {
    for (const path of ["/metrics", "/mesh/status.json"]) {
      const answers = await burstOf(3 * burst, () => requestFrom(gw, proxy, path, { "x-forwarded-for": `198.18.5.${path.length}` }));
      expect(count(answers, 429), path).to.be.at.least(burst);
    }
    const connect = await burstOf(3 * burst, () =>
      requestFrom(gw, proxy, getItem, { ...connectJson, "x-forwarded-for": "198.18.6.1" }, JSON.stringify({ sku: "MUG-001" })),
    );
    const refused = connect.filter((r) => r.status === 429);
    expect(refused.length).to.be.at.least(burst);
    expect(refused.every((r) => (r.json as { code?: string }).code === "resource_exhausted")).to.equal(true);
    const grpcWeb = await burstOf(3 * burst, () =>
      requestFrom(gw, proxy, getItem, { "content-type": "application/grpc-web+proto", "x-forwarded-for": "198.18.6.2" }, "\u0000\u0000\u0000\u0000\u0000"),
    );
    expect(grpcWeb.filter((r) => r.status === 200 && r.headers["grpc-status"] === "8").length).to.be.at.least(burst);
  });
});

/** The gateway process's resident memory and its peak since `resetPeak`, in bytes (/proc/<pid>/status). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/** Resets the process's peak resident memory to its current one (proc(5), clear_refs). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** `size` zero bytes gzip-compressed, produced in 1 MiB pieces (never held whole). */
async function gzipBomb(size: number): Promise<Buffer> {
  const gzip = zlib.createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on("data", (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => gzip.once("end", resolve));
  const zeros = Buffer.alloc(mib);
  for (let written = 0; written < size; written += mib) {
    if (!gzip.write(zeros)) {
      await new Promise((resolve) => gzip.once("drain", resolve));
    }
  }
  gzip.end();
  await ended;
  return Buffer.concat(out);
}

/** Sends `body` with chunked transfer encoding in 64 KiB pieces: no Content-Length to refuse it by. */
function postChunked(baseUrl: string, path: string, headers: Record<string, string>, body: Buffer): Promise<RawResponse> {
  return httpRequest(baseUrl, { method: "POST", path, headers, body, chunked: true });
}

describe("gateway passthrough body limits, real processes", function () {
  this.timeout(240_000);
  let mesh: TestMesh;
  let gw: string;
  let pid: number;

  before(async () => {
    mesh = await startMesh({ gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000" } });
    gw = mesh.gateway!.url;
    pid = mesh.gateway!.child.pid!;
    // Warm up: the first passthrough call compiles connect-node's paths.
    const warm = await httpRequest(gw, { method: "POST", path: getItem, headers: connectJson, body: JSON.stringify({ sku: "MUG-001" }) });
    expect(warm.status).to.equal(200);
  });
  after(async () => {
    await mesh?.stop();
  });

  /** Runs `send` and reports how far the gateway's resident memory rose above where it was, at its peak. */
  async function growth(send: () => Promise<RawResponse>): Promise<{ response: RawResponse; grewBy: number }> {
    resetPeak(pid);
    const before = memoryOf(pid).rss;
    const response = await send();
    return { response, grewBy: memoryOf(pid).peak - before };
  }

  it("refuses a 2 MiB Connect body with resource_exhausted without holding it", async () => {
    const body = Buffer.from(JSON.stringify({ sku: "A".repeat(2 * mib) }));
    const { response, grewBy } = await growth(() => postChunked(gw, getItem, connectJson, body));
    expect(response.status).to.equal(429);
    expect((response.json as { code: string }).code).to.equal("resource_exhausted");
    expect(grewBy, `RSS grew by ${(grewBy / mib).toFixed(1)} MiB`).to.be.below(8 * mib);
  });

  it("refuses an anonymous body declared larger than the limit before reading it", async () => {
    // Headers and 64 KiB of a declared 2 MiB: the answer comes without the rest being sent.
    const url = new URL(gw);
    const head =
      `POST ${getItem} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\nconnect-protocol-version: 1\r\n` +
      `content-length: ${2 * mib}\r\n\r\n`;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      let received = "";
      socket.setTimeout(30_000, () => socket.destroy(new Error("no answer without the rest of the body")));
      socket.once("connect", () => socket.write(Buffer.concat([Buffer.from(head), Buffer.alloc(64 * 1024, 0x41)])));
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
      socket.once("error", reject);
      socket.once("close", () => resolve(received));
    });
    expect(answer).to.match(/^HTTP\/1\.1 429 /);
    expect(answer.toLowerCase()).to.contain("connection: close");
    expect(answer).to.contain('"code":"resource_exhausted"');
  });

  it("refuses a gzip bomb (2 MB that inflate to 2 GiB) on the bytes received", async () => {
    const bomb = await gzipBomb(2048 * mib);
    expect(bomb.length).to.be.within(mib, 3 * mib);
    const { response, grewBy } = await growth(() => postChunked(gw, getItem, { ...connectJson, "content-encoding": "gzip" }, bomb));
    expect(response.status).to.equal(429);
    expect((response.json as { code: string }).code).to.equal("resource_exhausted");
    expect(grewBy, `RSS grew by ${(grewBy / mib).toFixed(1)} MiB`).to.be.below(8 * mib);
  });

  it("refuses a gzip bomb under the limit (512 KB that inflate to 512 MiB) after at most the limit decompressed", async () => {
    const bomb = await gzipBomb(512 * mib);
    expect(bomb.length).to.be.below(mib);
    const { response, grewBy } = await growth(() =>
      httpRequest(gw, { method: "POST", path: getItem, headers: { ...connectJson, "content-encoding": "gzip" }, body: bomb }),
    );
    expect(response.status).to.equal(429);
    const error = response.json as { code: string; message: string };
    expect(error.code).to.equal("resource_exhausted");
    expect(error.message).to.contain("after decompression");
    expect(grewBy, `RSS grew by ${(grewBy / mib).toFixed(1)} MiB`).to.be.below(8 * mib);
  });

  it("still serves a compressed request within the limit", async () => {
    const body = zlib.gzipSync(JSON.stringify({ sku: "MUG-001" }));
    const response = await httpRequest(gw, { method: "POST", path: getItem, headers: { ...connectJson, "content-encoding": "gzip" }, body });
    expect(response.status).to.equal(200);
  });
});
