import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { startService } from "../support/service-process.js";

/** The gateway process started from a config file that would front a service nobody can reach. */
describe("the gateway process with a config it must refuse", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-gateway-refuse-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("stops at start, naming the service without HTTP rules or access-policy lines", async () => {
    writeFileSync(path.join(dir, "policy.json"), JSON.stringify({ methods: { "meshwork.inventory.v1.InventoryService/GetItem": "public" } }));
    const config = path.join(dir, "gateway.yaml");
    writeFileSync(
      config,
      [
        "descriptors: ${API_IMAGE}",
        "access_policy: policy.json",
        "upstreams:",
        "  - { name: inventory, endpoints: 'http://127.0.0.1:1', services: [meshwork.inventory.v1.InventoryService] }",
        "  - { name: payments, endpoints: 'http://127.0.0.1:2', services: [meshwork.payments.v1.PaymentService] }",
        "",
      ].join("\n"),
    );
    let failure: unknown;
    try {
      const gateway = await startService("gateway", { DATA_DIR: dir, GATEWAY_CONFIG: config });
      await gateway.stop();
    } catch (err) {
      failure = err;
    }
    expect(String(failure)).to.match(/gateway exited with 1 before serving/);
    expect(String(failure)).to.contain(
      `gateway config ${config}: refusing to front meshwork.payments.v1.PaymentService has no HTTP rules (google.api.http) and no lines in the access policy`,
    );
  });
});
