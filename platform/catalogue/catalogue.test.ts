import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { expect } from "chai";
import { checkCatalogue } from "./check-catalogue.js";
import { callPairs, contractCallGraph } from "./contract-callers.js";
import { contractServices } from "./contract-services.js";
import { loadCatalogue, ManifestError, nextFreePort, parseServiceManifest, type Catalogue } from "./index.js";

const root = path.resolve(import.meta.dirname, "../..");

describe("the service catalogue", function () {
  this.timeout(60_000);
  let services: DescService[];

  before(async () => {
    services = await contractServices(root);
  });

  it("has an entry for the gateway and every service folder, and agrees with the code and the contracts", async () => {
    const catalogue = loadCatalogue(root);
    // (A scaffolded service adds its own folder: the demo's are a subset.)
    expect(catalogue.services.map((s) => s.folder)).to.include.members([
      "gateway",
      "services/inventory",
      "services/notifications",
      "services/orders",
      "services/payments",
    ]);
    expect(await checkCatalogue(root, catalogue, services)).to.deep.equal([]);
    const orders = catalogue.services.find((s) => s.manifest.name === "orders")!.manifest;
    expect(orders.dependencies).to.deep.equal(["inventory", "payments"]);
    expect(orders.data).to.include("orders");
  });

  it("says where the dependencies and the contracts' callers disagree, both ways", async () => {
    const catalogue = loadCatalogue(root);
    const withDependencies = (changes: Record<string, string[]>): Catalogue => ({
      services: catalogue.services.map((e) =>
        changes[e.manifest.name] === undefined ? e : { ...e, manifest: { ...e.manifest, dependencies: changes[e.manifest.name]! } },
      ),
    });
    const problems = await checkCatalogue(root, withDependencies({ orders: ["inventory"], gateway: ["inventory", "notifications", "orders", "payments"] }), services);
    expect(problems.filter((p) => /contracts|callers/.test(p))).to.deep.equal([
      "gateway/service.yaml: depends on payments, but no method payments serves names gateway among its callers (meshwork.access.v1)",
      "services/orders/service.yaml: the contracts let orders call payments (meshwork.payments.v1.PaymentService/AuthorizePayment, " +
        "meshwork.payments.v1.PaymentService/CapturePayment, meshwork.payments.v1.PaymentService/GetPayment, meshwork.payments.v1.PaymentService/VoidPayment) but it does not depend on payments",
    ]);
    // The contracts let a consumer call every producer's EventLogService; depending on one of them is enough.
    const graph = contractCallGraph(root, catalogue, services, "embedded");
    expect(callPairs(graph.calls.filter((c) => c.caller === "notifications"))).to.deep.equal(["notifications -> inventory", "notifications -> orders"]);
    expect(graph.unplaced).to.deep.equal([]);
    expect(callPairs(contractCallGraph(root, catalogue, services, "nats").calls.filter((c) => c.caller === "notifications"))).to.deep.equal([]);
  });

  describe("against a service whose entry disagrees with its code", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-catalogue-"));
      const write = (file: string, text: string): void => {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), text);
      };
      const manifest = (name: string, port: number, extra: string): string =>
        `name: ${name}\nowner: ${name} team\ndescription: A test service.\ntier: 2\nport: ${port}\n${extra}`;
      write("services/beta/service.yaml", manifest("beta", 50062, "dependencies: []\ndata: [beta_things]\n"));
      write("services/beta/main.ts", 'const runtime = serviceRuntime("beta", process.env, { defaultPort: 50062 });\n');
      write("services/beta/migrations.ts", 'export const migrations = ["CREATE TABLE beta_things (id TEXT PRIMARY KEY)"];\n');
      write(
        "services/alpha/service.yaml",
        manifest(
          "alpha",
          50061,
          [
            "dependencies: [beta]",
            "data: [alpha_rows, forgotten]",
            "slos:",
            "  - name: missing-method",
            "    description: No such method.",
            "    objective: 99.9",
            "    availability: { method: meshwork.alpha.v1.AlphaService/Nothing }",
            "  - name: someone-elses",
            "    description: Another service's method.",
            "    objective: 99.9",
            "    availability: { method: meshwork.orders.v1.OrderService/PlaceOrder }",
            "  - name: odd-threshold",
            "    description: Not a bucket bound.",
            "    objective: 99",
            "    latency: { method: meshwork.orders.v1.OrderService/GetOrder, below_seconds: 0.3 }",
            "",
          ].join("\n"),
        ),
      );
      // Builds a client of gamma (not declared), not of beta (declared).
      write(
        "services/alpha/main.ts",
        'const runtime = serviceRuntime("alpha", process.env, { defaultPort: 50_071 });\nconst gamma = { name: "gamma", endpoints: "http://127.0.0.1:1" };\n',
      );
      write(
        "services/alpha/migrations.ts",
        'export const migrations = ["CREATE TABLE alpha_rows (id TEXT PRIMARY KEY)", "CREATE TABLE extra (id TEXT)"];\n',
      );
      write(
        "services/alpha/store.ts",
        'const db = runtime.dataFile("beta.db");\nconst other = openDatabase(path, { name: "beta", migrations });\nimport { x } from "../beta/migrations.js";\n',
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("names every disagreement, file by file", async () => {
      const problems = await checkCatalogue(dir, loadCatalogue(dir), services);
      expect(problems).to.deep.equal([
        "services/alpha/service.yaml: dependencies [beta] but services/alpha/main.ts builds targets [gamma]",
        "services/alpha/service.yaml: depends on beta, but no method beta serves names alpha among its callers (meshwork.access.v1)",
        "services/alpha/service.yaml: port 50061 but services/alpha/main.ts listens on 50071 when PORT is unset",
        "services/alpha/service.yaml: data [alpha_rows, forgotten] but its migrations create [alpha_rows, extra]",
        'services/alpha/store.ts: opens data file "beta.db", not alpha.db',
        'services/alpha/store.ts: opens the database of "beta"',
        "services/alpha/store.ts: names beta's database file beta.db",
        "services/alpha/store.ts: reaches into services/beta/",
        "services/alpha/service.yaml: slo missing-method: no method meshwork.alpha.v1.AlphaService/Nothing in the contracts",
        "services/alpha/service.yaml: slo someone-elses: meshwork.orders.v1.OrderService/PlaceOrder is not in alpha's own package meshwork.alpha.*",
        "services/alpha/service.yaml: slo odd-threshold: meshwork.orders.v1.OrderService/GetOrder is not in alpha's own package meshwork.alpha.*",
        "services/alpha/service.yaml: slo odd-threshold: below_seconds 0.3 is not a latency bucket bound (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)",
      ]);
    });

    it("refuses a dependency on a service the catalogue does not hold", () => {
      writeFileSync(
        path.join(dir, "services/beta/service.yaml"),
        "name: beta\nowner: beta team\ndescription: d\ntier: 2\nport: 50062\ndependencies: [zeta]\ndata: [beta_things]\n",
      );
      expect(() => loadCatalogue(dir)).to.throw(ManifestError, 'services/beta/service.yaml: dependencies: no service "zeta" in the catalogue');
    });

    it("refuses two services on one port, and gives a new one the next free port", () => {
      writeFileSync(path.join(dir, "services/beta/service.yaml"), "name: beta\nowner: b\ndescription: d\ntier: 2\nport: 50062\n");
      expect(nextFreePort(loadCatalogue(dir))).to.equal(50051);
      writeFileSync(path.join(dir, "services/beta/service.yaml"), "name: beta\nowner: b\ndescription: d\ntier: 2\nport: 50061\n");
      expect(() => loadCatalogue(dir)).to.throw(ManifestError, "services/beta/service.yaml: port 50061 is alpha's already");
    });
  });

  describe("a manifest that does not follow the schema", () => {
    const base = "name: x\nowner: x team\ndescription: d\ntier: 1\nport: 50099\n";
    const cases: [string, string, string][] = [
      ["an unknown field", `${base}owners: [a]\n`, "x.yaml: owners: unknown field"],
      ["a port out of range", base.replace("port: 50099", "port: 70000"), "x.yaml: port: expected a port number, got 70000"],
      ["a tier out of range", base.replace("tier: 1", "tier: 4"), "x.yaml: tier: expected 1, 2 or 3, got 4"],
      ["a missing owner", base.replace("owner: x team\n", ""), "x.yaml: owner: expected a non-empty string"],
      ["a name that is not kebab-case", base.replace("name: x", "name: X_y"), 'x.yaml: name: "X_y" is not kebab-case'],
      ["invalid YAML", `${base}slos: [\n`, "x.yaml: "],
      [
        "an objective of 100%",
        `${base}slos:\n  - { name: a, description: d, objective: 100, availability: { method: a.B/C } }\n`,
        "x.yaml: slos[0].objective: expected a percentage between 0 and 100 (exclusive)",
      ],
      [
        "both indicators",
        `${base}slos:\n  - { name: a, description: d, objective: 99, availability: { method: a.B/C }, latency: { method: a.B/C, below_seconds: 1 } }\n`,
        "x.yaml: slos[0]: give exactly one of availability or latency",
      ],
      [
        "a route that is not METHOD /path",
        `${base}slos:\n  - { name: a, description: d, objective: 99, availability: { route: /v1/orders } }\n`,
        'x.yaml: slos[0].availability.route: "/v1/orders" is not "<HTTP method> <path template>"',
      ],
      [
        "a latency without its threshold",
        `${base}slos:\n  - { name: a, description: d, objective: 99, latency: { method: a.B/C } }\n`,
        "x.yaml: slos[0].latency.below_seconds: expected a positive number of seconds",
      ],
      [
        "two SLOs with one name",
        `${base}slos:\n  - { name: a, description: d, objective: 99, availability: { method: a.B/C } }\n  - { name: a, description: d, objective: 99, availability: { method: a.B/D } }\n`,
        'x.yaml: slos[1].name: "a" appears twice',
      ],
    ];
    for (const [what, text, message] of cases) {
      it(`refuses ${what}, naming the file and the field`, () => {
        expect(() => parseServiceManifest(text, "x.yaml")).to.throw(ManifestError, message);
      });
    }
  });
});
