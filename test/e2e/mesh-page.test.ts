import { expect } from "chai";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { signDevToken } from "../../gateway/auth/dev-token.js";
import type { MeshSnapshot } from "../../gateway/mesh-page/index.js";
import { launchChromium } from "../support/chromium.js";
import { signInToMeshPage } from "../support/mesh-page-sign-in.js";
import { httpRequest, type RawResponse } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

const outputDir = path.resolve(import.meta.dirname, "../../test-output");

/**
 * The gateway's live /mesh page in real headless Chromium, in front of the
 * real inventory, payments and orders processes: while orders are placed
 * through the gateway, payments is killed, and the page — fed by the
 * gateway's Server-Sent Events — shows payments unreachable, the orders ->
 * payments breaker open, PlaceOrder's traffic and the gateway's failed
 * requests with their request ids.
 */
describe("the /mesh page in Chromium, real gateway and services", function () {
  this.timeout(180_000);

  let mesh: TestMesh | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let gatewayUrl: string;
  let token: string;
  /** An operator's token: the page's data needs one. */
  let admin: string;
  const pageErrors: Error[] = [];

  /** Load through the gateway until stopped: one PlaceOrder at a time, each with our request id. */
  let loading = false;
  let load: Promise<void> | undefined;
  const answers: RawResponse[] = [];

  const placeOrder = (requestId: string): Promise<RawResponse> =>
    httpRequest(gatewayUrl, {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ requestId, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }),
    });

  const startLoad = (): void => {
    loading = true;
    load = (async () => {
      for (let i = 0; loading; i++) {
        answers.push(await placeOrder(`mesh-page-load-${i}`));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  };

  const endpointRow = (service: string) => page.locator(`[data-testid="endpoint-row"][data-service="${service}"]`);
  const breakerRow = (process: string, target: string, method: string) =>
    page.locator(`[data-testid="breaker-row"][data-process="${process}"][data-target="${target}"][data-method="${method}"]`);
  const methodRow = (process: string, kind: string, method: string) =>
    page.locator(`[data-testid="method-row"][data-process="${process}"][data-kind="${kind}"][data-method="${method}"]`);

  before(async () => {
    browser = await launchChromium();
    await mkdir(outputDir, { recursive: true });
    mesh = await startMesh({
      // Open the orders -> payments breaker after a few failures, and keep it open for the screenshot.
      env: { BREAKER_VOLUME_THRESHOLD: "3", BREAKER_RESET_MS: "60000" },
      gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000", MESH_POLL_MS: "500" },
    });
    gatewayUrl = mesh.gateway!.url;
    token = await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "alice" });
    admin = await signDevToken(path.join(mesh.dataDir, "auth"), { subject: "ops", scopes: ["meshwork:admin"] });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
  });

  after(async () => {
    loading = false;
    await load;
    await browser?.close();
    await mesh?.stop();
  });

  it("serves the latest snapshot as JSON, with every mesh service and the gateway", async () => {
    // The first poll has run once every endpoint reports a health other than
    // "unknown"; on a loaded machine a probe of a poll can time out (800 ms), so
    // the polls are read until every endpoint serves, for up to 100 reads.
    let snapshot: MeshSnapshot | undefined;
    for (let i = 0; i < 100; i++) {
      const response = await httpRequest(gatewayUrl, { path: "/mesh/status.json", headers: { authorization: `Bearer ${admin}` } });
      expect(response.status).to.equal(200);
      expect(String(response.headers["content-type"])).to.equal("application/json");
      snapshot = response.json as MeshSnapshot;
      if (snapshot.services.every((s) => s.endpoints.every((e) => e.health === "serving"))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const details = JSON.stringify(snapshot?.services.flatMap((s) => s.endpoints.map((e) => [s.name, e.health, e.detail])));
    expect(snapshot?.services.map((s) => [s.name, s.state]), details).to.deep.equal([
      ["gateway", "up"],
      ["inventory", "up"],
      ["payments", "up"],
      ["orders", "up"],
      ["notifications", "up"],
    ]);
    expect(snapshot?.services.find((s) => s.name === "payments")?.endpoints.map((e) => e.url)).to.deep.equal([mesh!.payments.url]);
    // Every process reports its readiness, the gateway (read in-process) included.
    expect(snapshot?.services.flatMap((s) => s.endpoints.map((e) => [s.name, e.ready]))).to.deep.equal([
      ["gateway", true],
      ["inventory", true],
      ["payments", true],
      ["orders", true],
      ["notifications", true],
    ]);
  });

  it("asks for a token, refuses a customer's with the reason, and keeps no data in the page", async () => {
    await page.goto(`${gatewayUrl}/mesh`);
    await page.locator('[data-testid="connection"][data-state="signed-out"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("services").locator("tr").count()).to.equal(0);
    await signInToMeshPage(page, gatewayUrl, token);
    await page.locator('[data-testid="connection"][data-state="refused"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("sign-in-error").textContent()).to.contain("meshwork:admin");
    expect(await page.evaluate(() => sessionStorage.getItem("meshwork.mesh.token"))).to.equal(null);
    expect(await page.getByTestId("services").locator("tr").count()).to.equal(0);
  });

  it("shows every service serving and updates live, with an operator's token", async () => {
    await signInToMeshPage(page, gatewayUrl, admin);
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("sign-in").isHidden()).to.equal(true);
    // The token is kept for this tab: a reload follows the stream again without asking.
    await page.reload();
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 30_000 });
    for (const service of ["gateway", "inventory", "payments", "orders"]) {
      await endpointRow(service).and(page.locator('[data-health="serving"]')).waitFor({ timeout: 30_000 });
    }
    expect(await endpointRow("payments").textContent()).to.contain(mesh!.payments.url);
    // Live: the "updated" time moves without a reload.
    const first = await page.getByTestId("connection").textContent();
    await page.waitForFunction((before) => document.getElementById("connection")?.textContent !== before, first, { timeout: 30_000 });
  });

  it("shows payments unreachable, the orders -> payments breaker open and PlaceOrder's rate, under load with payments killed", async () => {
    startLoad();
    const placeOrderRow = methodRow("orders", "server", "OrderService/PlaceOrder");
    await placeOrderRow.waitFor({ timeout: 60_000 });
    await waitForNonZeroRate(page, "orders", "OrderService/PlaceOrder");

    await mesh!.payments.kill();

    await endpointRow("payments").and(page.locator('[data-health="unreachable"]')).waitFor({ timeout: 60_000 });
    const payments = endpointRow("payments");
    expect(await payments.getAttribute("data-state")).to.equal("down");
    expect(await payments.textContent()).to.contain("unreachable");

    const breaker = breakerRow("orders", "payments", "PaymentService/AuthorizePayment");
    await breaker.and(page.locator('[data-state="open"]')).waitFor({ timeout: 90_000 });
    expect(await breaker.textContent()).to.contain("open");

    // The orders' client side of AuthorizePayment fails while payments is down.
    const authorize = methodRow("orders", "client", "PaymentService/AuthorizePayment");
    await authorize.filter({ hasText: "unavailable" }).waitFor({ timeout: 60_000 });

    // PlaceOrder still answers (orders are cancelled with PAYMENT_FAILED) and its rate shows.
    await waitForNonZeroRate(page, "orders", "OrderService/PlaceOrder");
    expect(answers.length).to.be.greaterThan(0);
  });

  it("lists the gateway's failed requests with the request ids the client sent, as text", async () => {
    const requestId = "mesh-page-missing-order-1";
    const missing = await httpRequest(gatewayUrl, {
      path: "/v1/orders/no-such-order",
      headers: { authorization: `Bearer ${token}`, "x-request-id": requestId },
    });
    expect(missing.status).to.equal(404);
    // A path with markup in it: the page must show it as text, never build elements from it.
    const hostile = await httpRequest(gatewayUrl, {
      // (As HTML, "<i/id=injected>" is an <i id="injected"> element.)
      path: "/v1/<i/id=injected>x</i>",
      headers: { "x-request-id": "mesh-page-markup-1" },
    });
    expect(hostile.status).to.equal(404);

    const row = page.locator(`[data-testid="error-row"][data-request-id="${requestId}"]`);
    await row.waitFor({ timeout: 30_000 });
    const text = (await row.textContent()) ?? "";
    expect(text).to.contain("GET /v1/orders/no-such-order");
    expect(text).to.contain("404");
    expect(text).to.contain("not_found");

    const markupRow = page.locator('[data-testid="error-row"][data-request-id="mesh-page-markup-1"]');
    await markupRow.waitFor({ timeout: 30_000 });
    expect(await markupRow.textContent()).to.contain("GET /v1/<i/id=injected>x</i>");
    expect(await page.locator("#injected").count()).to.equal(0);

    await page.screenshot({ path: path.join(outputDir, "mesh-page.png"), fullPage: true });
    expect(pageErrors.map(String)).to.deep.equal([]);
  });
});

/** Waits until the method table shows a rate above zero for a server method of `process`. */
async function waitForNonZeroRate(page: Page, process: string, method: string): Promise<void> {
  await page.waitForFunction(
    ([p, m]) => {
      const row = document.querySelector(`[data-testid="method-row"][data-process="${p}"][data-kind="server"][data-method="${m}"]`);
      const rate = row?.querySelectorAll("td")[3]?.textContent ?? "";
      return Number.parseFloat(rate) > 0;
    },
    [process, method] as const,
    { timeout: 60_000 },
  );
}
