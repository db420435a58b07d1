import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadAccessPolicy } from "../auth/access-policy.js";
import { testApiImage } from "../../test/support/service-process.js";
import { checkFrontable, defaultGatewayConfigFile, frontedServices, loadGatewayConfig, ownServices } from "./index.js";

describe("the gateway config file", function () {
  this.timeout(60_000);
  let dir: string;
  let image: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-gateway-config-"));
    image = await testApiImage();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it("reads the demo's config: upstreams, their services and where they are, from the environment or the defaults", () => {
    const config = loadGatewayConfig(defaultGatewayConfigFile, { INVENTORY_URL: "http://10.1.2.3:7000,http://10.1.2.4:7000", API_IMAGE: image });
    expect(config.descriptorsFile).to.equal(image);
    expect(config.accessPolicyFile).to.equal(path.join(path.dirname(defaultGatewayConfigFile), "auth", "access-policy.json"));
    // The demo's upstreams (a `make service NAME=... PUBLIC=1` appends its own after them).
    expect(config.upstreams.slice(0, 3).map((u) => [u.name, u.endpoints, u.services, u.timeoutMs, u.readiness])).to.deep.equal([
      [
        "inventory",
        ["http://10.1.2.3:7000", "http://10.1.2.4:7000"],
        ["meshwork.inventory.v1.InventoryService", "meshwork.inventory.v2alpha1.InventoryService"],
        undefined,
        true,
      ],
      ["orders", ["https://127.0.0.1:50053"], ["meshwork.orders.v1.OrderService"], 30_000, true],
      ["notifications", ["https://127.0.0.1:50054"], ["meshwork.notifications.v1.NotificationService"], undefined, false],
    ]);
  });

  it("takes the services from the descriptors, with their HTTP rules, and accepts the demo's policy", () => {
    const config = loadGatewayConfig(defaultGatewayConfigFile, { API_IMAGE: image });
    const upstreams = frontedServices(config);
    expect(upstreams.slice(0, 4).map((u) => [u.service.typeName, u.target.name])).to.deep.equal([
      ["meshwork.inventory.v1.InventoryService", "inventory"],
      ["meshwork.inventory.v2alpha1.InventoryService", "inventory"],
      ["meshwork.orders.v1.OrderService", "orders"],
      ["meshwork.notifications.v1.NotificationService", "notifications"],
    ]);
    // One target per upstream, shared by its services: one breaker set, one connection pool.
    expect(upstreams[0]!.target).to.equal(upstreams[1]!.target);
    expect(upstreams[2]!.target.timeouts).to.deep.equal({ defaultTimeoutMs: 30_000 });
    const services = upstreams.map((u) => u.service);
    expect(() => checkFrontable(config, services, loadAccessPolicy(config.accessPolicyFile, [...services, ...ownServices]))).not.to.throw();
  });

  it("refuses a service without HTTP rules or access-policy lines, naming it and what it lacks", () => {
    const file = write(
      "payments.yaml",
      `descriptors: ${image}\naccess_policy: ${path.join(path.dirname(defaultGatewayConfigFile), "auth", "access-policy.json")}\n` +
        "upstreams:\n  - { name: payments, endpoints: 'http://127.0.0.1:1', services: [meshwork.payments.v1.PaymentService] }\n" +
        "  - { name: inventory, endpoints: 'http://127.0.0.1:2', services: [meshwork.inventory.v1.InventoryService] }\n",
    );
    const config = loadGatewayConfig(file, {});
    const services = frontedServices(config).map((u) => u.service);
    const policy = loadAccessPolicy(path.join(path.dirname(defaultGatewayConfigFile), "auth", "access-policy.json"), [
      ...services,
      ...frontedServices(loadGatewayConfig(defaultGatewayConfigFile, { API_IMAGE: image })).map((u) => u.service),
      ...ownServices,
    ]);
    expect(() => checkFrontable(config, services, policy)).to.throw(
      `gateway config ${file}: refusing to front meshwork.payments.v1.PaymentService has no HTTP rules (google.api.http) and no lines in the access policy`,
    );
  });

  it("refuses services missing from the descriptors, naming them all", () => {
    const file = write(
      "missing.yaml",
      `descriptors: ${image}\naccess_policy: x.json\nupstreams:\n  - { name: nowhere, endpoints: 'http://127.0.0.1:1', services: [meshwork.nowhere.v1.NowhereService, meshwork.billing.v1.BillingService] }\n`,
    );
    expect(() => frontedServices(loadGatewayConfig(file, {}))).to.throw(
      `gateway config ${file}: not in the descriptors ${image}: meshwork.nowhere.v1.NowhereService, meshwork.billing.v1.BillingService`,
    );
  });

  it("refuses descriptors that are not an image", () => {
    const bogus = write("bogus.binpb", "not a descriptor set");
    const file = write("bogus.yaml", `descriptors: bogus.binpb\naccess_policy: x.json\nupstreams:\n  - { name: a, endpoints: 'http://127.0.0.1:1', services: [a.B] }\n`);
    expect(() => frontedServices(loadGatewayConfig(file, {}))).to.throw(`cannot read the descriptors ${bogus}`);
  });

  const invalid: [string, string, string][] = [
    ["an unset variable without a default", "descriptors: ${NOWHERE_IMAGE}\n", "descriptors: ${NOWHERE_IMAGE} is not set and has no default"],
    ["an unknown field", "descriptor: a\n", "descriptor: unknown field"],
    ["no upstreams", "descriptors: a\naccess_policy: b\nupstreams: []\n", "upstreams: expected a non-empty list"],
    [
      "a malformed endpoint",
      "descriptors: a\naccess_policy: b\nupstreams:\n  - { name: a, endpoints: 'ftp://x', services: [a.B] }\n",
      "upstreams[0].endpoints=ftp://x: expected https://host:port",
    ],
    [
      "one service under two upstreams",
      "descriptors: a\naccess_policy: b\nupstreams:\n  - { name: a, endpoints: 'http://x:1', services: [a.B] }\n  - { name: b, endpoints: 'http://x:2', services: [a.B] }\n",
      "service a.B is listed under two upstreams",
    ],
    [
      "a timeout that is not a number",
      "descriptors: a\naccess_policy: b\nupstreams:\n  - { name: a, endpoints: 'http://x:1', services: [a.B], timeout_ms: soon }\n",
      "upstreams[0].timeout_ms: expected a whole number of milliseconds >= 1",
    ],
  ];
  for (const [what, text, message] of invalid) {
    it(`refuses ${what}, naming the file and the field`, () => {
      const file = write("invalid.yaml", text);
      expect(() => loadGatewayConfig(file, {})).to.throw(`gateway config ${file}: ${message}`);
    });
  }
});
