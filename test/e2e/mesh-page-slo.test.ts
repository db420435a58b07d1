import { mkdir } from "node:fs/promises";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { signDevToken } from "../../gateway/auth/dev-token.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { loadCatalogue } from "../../platform/catalogue/index.js";
import { alertNames, sloRulesYaml } from "../../platform/slo/index.js";
import { bareTarget } from "../support/bare-target.js";
import { launchChromium } from "../support/chromium.js";
import { signInToMeshPage } from "../support/mesh-page-sign-in.js";
import { freePort } from "../support/free-port.js";
import { httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { PrometheusServer, type PrometheusAlert } from "../support/prometheus-server.js";
import { TestClients } from "../support/test-identity.js";

const root = path.resolve(import.meta.dirname, "../..");
const outputDir = path.join(root, "test-output");
/** An hour of the workbook becomes a minute: the fast page's windows are 60 s with 5 s, and 6 min with 30 s. */
const scale = 60;
const slo = "authorize-payment-availability";

/**
 * The SLOs as code end to end: the catalogue's generated rules (windows
 * scaled down 60 times) in a real Prometheus scraping the real mesh, and the
 * gateway's /mesh page reading them, in real Chromium. Under traffic the page
 * draws the mesh graph (edges coloured and labelled), sparklines, owners and
 * every SLO's budget; while AuthorizePayment fails with Unavailable (the
 * processor's tok_unavailable fault) the fast-burn page fires in Prometheus
 * and on the page; once the calls succeed again it resolves in both.
 */
describe("SLOs, burn-rate alerts and the mesh graph: real Prometheus, real mesh, /mesh in Chromium", function () {
  this.timeout(300_000);
  let dir: string;
  let mesh: TestMesh | undefined;
  let prometheus: PrometheusServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** An operator's token: the page's data and the gateway's /metrics need one. */
  let admin: string;
  const clients = new TestClients();
  const pageErrors: Error[] = [];
  let faulty = false;
  let sending = true;
  const loads: Promise<void>[] = [];

  const fastPage = (alerts: PrometheusAlert[]): PrometheusAlert | undefined =>
    alerts.find((a) => a.labels.alertname === alertNames.page && a.labels.slo === slo);
  const alertRow = () => page.locator(`[data-testid="alert-row"][data-slo="${slo}"][data-severity="page"]`);
  const sloRow = (service: string, name: string) => page.locator(`[data-testid="slo-row"][data-service="${service}"][data-slo="${name}"]`);
  const edge = (from: string, to: string) => page.locator(`[data-testid="graph-edge"][data-from="${from}"][data-to="${to}"]`);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-mesh-slo-"));
    const rules = path.join(dir, "slo-rules.yml");
    writeFileSync(rules, sloRulesYaml(loadCatalogue(root).services.map((s) => s.manifest), { scale }));
    const prometheusPort = await freePort();
    browser = await launchChromium();
    await mkdir(outputDir, { recursive: true });
    mesh = await startMesh({
      gateway: {
        RATE_LIMIT_PER_SECOND: "1000",
        RATE_LIMIT_BURST: "1000",
        MESH_POLL_MS: "500",
        MESH_PROMETHEUS_URL: `http://127.0.0.1:${prometheusPort}`,
      },
    });
    admin = await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "ops", scopes: ["meshwork:admin"] });
    prometheus = await PrometheusServer.start({
      port: prometheusPort,
      // The gateway's /metrics is for operators: Prometheus scrapes it with an admin token.
      bearerTokens: { gateway: admin },
      ruleFiles: [rules],
      targets: {
        gateway: mesh.gateway!.address,
        inventory: mesh.inventory.address,
        payments: mesh.payments.address,
        orders: mesh.orders.address,
        notifications: mesh.notifications.address,
      },
    });
    const gateway = mesh.gateway!.url;
    const token = await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "alice" });
    // Shop traffic through the gateway (the graph's edges), and direct
    // authorizations: tok_visa approves; tok_unavailable fails as a processor outage would
    // (Unavailable, reason DEPENDENCY_UNAVAILABLE: callers' breakers leave it out, payments' SLO counts it).
    loads.push(
      (async () => {
        for (let i = 0; sending; i++) {
          await httpRequest(gateway, { path: "/v1/inventory/items?page_size=2" });
          await httpRequest(gateway, {
            method: "POST",
            path: "/v1/orders",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ requestId: `slo-page-${i}`, lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken: "tok_visa" }),
          });
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
      })(),
      (async () => {
        const payments = clients.client(PaymentService, bareTarget(mesh!.payments.url));
        for (let i = 0; sending; i++) {
          await payments
            .authorizePayment({
              idempotencyKey: `slo-direct-${i}`,
              orderId: `slo-direct-${i}`,
              amountMinor: 100n,
              currencyCode: "USD",
              cardToken: faulty ? "tok_unavailable" : "tok_visa",
            })
            .catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
    );
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
  });

  after(async () => {
    sending = false;
    await Promise.all(loads);
    clients.close();
    await browser?.close();
    await prometheus?.stop();
    await mesh?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("draws the mesh: every service a node with its owner, calls as green edges labelled with rate and p99", async () => {
    await signInToMeshPage(page, mesh!.gateway!.url, admin);
    for (const [from, to] of [
      ["gateway", "inventory"],
      ["gateway", "orders"],
      ["orders", "inventory"],
      ["orders", "payments"],
    ]) {
      await edge(from!, to!).and(page.locator('[data-tone="good"]')).waitFor({ timeout: 90_000 });
      expect(await edge(from!, to!).textContent()).to.match(/\/s · p99 \d/);
    }
    // notifications pulls orders' events (unmetered): declared in the catalogue, drawn dashed.
    expect(await edge("notifications", "orders").getAttribute("data-tone")).to.equal("muted");
    for (const [service, owner] of [
      ["orders", "checkout team"],
      ["payments", "payments team"],
      ["gateway", "platform team"],
    ]) {
      expect(await page.locator(`[data-testid="graph-node"][data-service="${service}"]`).textContent()).to.contain(owner);
      expect(await page.locator(`[data-testid="endpoint-row"][data-service="${service}"]`).getAttribute("data-owner")).to.equal(owner);
    }
    // A sparkline per method, filling as polls come.
    await page.waitForFunction(
      () => {
        const row = document.querySelector('[data-testid="method-row"][data-process="orders"][data-kind="server"][data-method="OrderService/PlaceOrder"]');
        return Number(row?.querySelector('[data-what="rate"]')?.getAttribute("data-points") ?? 0) >= 3;
      },
      undefined,
      { timeout: 60_000 },
    );
  });

  it("shows every SLO of the catalogue with its whole budget left, from Prometheus", async () => {
    const catalogue = loadCatalogue(root).services.flatMap((s) => s.manifest.slos.map((x) => [s.manifest.name, x.name]));
    // Rows come with Prometheus's first answer.
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="slo-row"]').length === n, catalogue.length, { timeout: 60_000 });
    await sloRow("payments", slo).and(page.locator('[data-budget="1.0000"]')).waitFor({ timeout: 90_000 });
    await sloRow("gateway", "place-order-route-availability").and(page.locator('[data-budget="1.0000"]')).waitFor({ timeout: 90_000 });
    expect(await page.locator("#slos-hint").textContent()).to.contain(`from the recording rules in Prometheus at ${prometheus!.url}`);
    // No availability SLO burns before the fault (a latency one may, on a machine loaded enough).
    expect(await page.locator('[data-testid="alert-row"][data-slo$="-availability"]').count()).to.equal(0);
  });

  it("fires the fast-burn page while AuthorizePayment fails, in Prometheus and on the page, with the budget spent", async () => {
    faulty = true;
    const alerts = await prometheus!.alertsUntil((a) => fastPage(a)?.state === "firing", 120_000);
    expect(fastPage(alerts)?.labels, JSON.stringify(alerts)).to.include({ slo_service: "payments", owner: "payments team", severity: "page" });
    await alertRow().and(page.locator('[data-state="firing"]')).waitFor({ timeout: 60_000 });
    expect(await alertRow().textContent()).to.contain("payments team");
    await page.waitForFunction(
      (name) => Number(document.querySelector(`[data-testid="slo-row"][data-service="payments"][data-slo="${name}"]`)?.getAttribute("data-budget")) < 1,
      slo,
      { timeout: 60_000 },
    );
    expect(await sloRow("payments", slo).getAttribute("data-alerts")).to.contain("page:firing");
    await page.screenshot({ path: path.join(outputDir, "mesh-page-slo.png"), fullPage: true });
    faulty = false;
  });

  it("resolves the page once the calls succeed again, in Prometheus and on the page", async () => {
    faulty = false;
    const alerts = await prometheus!.alertsUntil((a) => fastPage(a) === undefined, 180_000);
    expect(fastPage(alerts), JSON.stringify(alerts)).to.equal(undefined);
    await alertRow().waitFor({ state: "detached", timeout: 60_000 });
    const ratio = await prometheus!.query(`slo:sli_error:ratio_rate5m{slo="${slo}"}`);
    expect(Number(ratio[0]?.value[1])).to.equal(0);
    expect(pageErrors.map(String)).to.deep.equal([]);
  });
});
