import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ClientFactory } from "../../mesh/index.js";
import { eventually } from "../../test/support/eventually.js";
import { StatusCollector } from "./status-collector.js";

// A process the collector polls: a real HTTP server that counts its scrapes.
describe("StatusCollector polling on demand", function () {
  this.timeout(90_000);
  let server: http.Server;
  let scrapes = 0;
  let collector: StatusCollector | undefined;
  const factory = new ClientFactory();

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/metrics") {
        scrapes++;
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    await collector?.stop();
    factory.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("polls after start, stops once nobody has looked for idleAfterMs, and starts again when someone looks", async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    collector = new StatusCollector({
      services: [{ name: "counted", endpoints: [url] }],
      local: { name: "gateway", events: factory.events },
      pollIntervalMs: 20,
      idleAfterMs: 300,
      probeTimeoutMs: 10_000,
    });
    collector.start("http://127.0.0.1:1");
    await eventually("a first scrape", () => scrapes > 0);

    // Idle: the count stops moving (bounded wait for a second without a scrape).
    let last = -1;
    let stillFor = 0;
    for (let i = 0; i < 300 && stillFor < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stillFor = scrapes === last ? stillFor + 1 : 0;
      last = scrapes;
    }
    expect(stillFor, "scrapes went on with nobody watching").to.equal(10);

    const idle = scrapes;
    collector.watch();
    await eventually("scrapes again once watched", () => scrapes > idle);
  });
});
