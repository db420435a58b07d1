import { expect } from "chai";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { signDevToken } from "../../gateway/auth/dev-token.js";
import { launchChromium } from "../support/chromium.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

const outputDir = path.resolve(import.meta.dirname, "../../test-output");

/**
 * The gateway's web page in real headless Chromium, served by the real gateway
 * in front of the real inventory, payments and orders processes: what a
 * person sees in the catalogue, the order form and "My orders"; and CORS as a
 * browser enforces it for pages from other origins.
 */
describe("gateway web page in Chromium, real gateway and services", function () {
  this.timeout(120_000);

  let mesh: TestMesh | undefined;
  let browser: Browser | undefined;
  let gatewayUrl: string;
  /** A page on this origin is allowed by the gateway's CORS_ORIGINS. */
  let allowed: OriginServer | undefined;
  /** A page on this origin is not. */
  let other: OriginServer | undefined;

  before(async () => {
    // First, so that a missing chromium fails the suite (never skips it) before the mesh starts.
    browser = await launchChromium();
    await mkdir(outputDir, { recursive: true });
    // Two more origins (same host, other ports), known before the gateway starts.
    allowed = await startOriginServer("allowed");
    other = await startOriginServer("other");
    mesh = await startMesh({ gateway: { CORS_ORIGINS: allowed.origin } });
    gatewayUrl = mesh.gateway!.url;
    allowed.gatewayUrl = gatewayUrl;
    other.gatewayUrl = gatewayUrl;
  });

  after(async () => {
    await browser?.close();
    await mesh?.stop();
    await allowed?.close();
    await other?.close();
  });

  describe("the shop page, as a person uses it", () => {
    let context: BrowserContext;
    let page: Page;
    let pageErrors: Error[];
    let token: string;
    let confirmedOrderId: string;

    const catalogueLoaded = () => page.locator('[data-testid="catalogue"][data-state="loaded"]').waitFor();
    const row = (sku: string) => page.locator(`[data-testid="catalogue-row"][data-sku="${sku}"]`);
    const available = async (sku: string) => Number(await row(sku).getByTestId("item-available").textContent());
    /** Waits until the catalogue (reloaded by the page after an order) shows this many of `sku`. */
    const availableBecomes = (sku: string, n: number) =>
      row(sku).getByTestId("item-available").filter({ hasText: new RegExp(`^${n}$`) }).waitFor();
    const alertText = async () => (await page.getByRole("alert").textContent()) ?? "";

    async function placeOrder(sku: string, quantity: number, card: string): Promise<string> {
      await page.getByLabel("Item").selectOption(sku);
      await page.getByLabel("Quantity").fill(String(quantity));
      await page.getByLabel("Card").selectOption(card);
      await page.getByRole("button", { name: "Place order" }).click();
      const form = page.locator('[data-testid="order-form"][data-state="done"], [data-testid="order-form"][data-state="error"]');
      await form.waitFor({ timeout: 30_000 });
      return (await form.getAttribute("data-state")) ?? "";
    }

    before(async () => {
      token = await signDevToken(path.join(mesh!.dataDir, "auth"), { subject: "alice" });
      context = await browser!.newContext();
      page = await context.newPage();
      pageErrors = [];
      page.on("pageerror", (err) => pageErrors.push(err));
      await page.goto(`${gatewayUrl}/`);
    });

    after(async () => {
      await context?.close();
    });

    afterEach(() => {
      expect(pageErrors.map(String)).to.deep.equal([]);
    });

    it("shows the catalogue: at least 6 items with names and prices", async () => {
      await catalogueLoaded();
      const rows = page.getByTestId("catalogue-row");
      expect(await rows.count()).to.be.at.least(6);
      for (const r of await rows.all()) {
        expect((await r.getByTestId("item-name").textContent())?.trim()).to.not.equal("");
        expect(await r.getByTestId("item-price").textContent()).to.match(/^\$\d[\d,]*\.\d\d$/);
        expect(await r.getByTestId("item-available").textContent()).to.match(/^\d+$/);
      }
      expect(await row("MUG-001").getByTestId("item-name").textContent()).to.equal("Mug");
      expect(await row("MUG-001").getByTestId("item-price").textContent()).to.equal("$14.00");
      expect(await page.getByTestId("catalogue-status").textContent()).to.equal(`${await rows.count()} items.`);
      expect(await alertText()).to.equal("");
      expect(await page.getByRole("button", { name: "Place order" }).isEnabled()).to.equal(true);
      expect(await page.getByTestId("orders-status").textContent()).to.equal("Paste a token to see your orders.");
      await page.screenshot({ path: path.join(outputDir, "browser-catalogue.png"), fullPage: true });
    });

    it("refuses an order without a token with an 'unauthenticated' alert", async () => {
      await catalogueLoaded();
      const before = await available("MUG-001");
      expect(await placeOrder("MUG-001", 1, "tok_visa")).to.equal("error");
      const alert = page.getByRole("alert");
      expect(await alert.isVisible()).to.equal(true);
      expect(await alertText()).to.equal("unauthenticated: this method needs a bearer token");
      expect(await page.getByTestId("order-status").textContent()).to.equal("The order was not placed.");
      expect(await page.getByTestId("order-result").isVisible()).to.equal(false);
      await catalogueLoaded();
      expect(await available("MUG-001")).to.equal(before);
      await page.screenshot({ path: path.join(outputDir, "browser-order-unauthenticated.png"), fullPage: true });
    });

    it("takes a pasted token for alice and shows her (empty) orders", async () => {
      await page.getByLabel("Token").fill(token);
      await page.getByLabel("Token").press("Enter"); // a "change" event
      await page.locator('[data-testid="my-orders"][data-state="loaded"]').waitFor();
      expect(await page.getByTestId("orders-status").textContent()).to.equal("No orders yet.");
      expect(await page.getByTestId("orders-item").count()).to.equal(0);
    });

    it("confirms MUG-001 x2 paid with tok_visa: CONFIRMED, $28.00, listed under My orders", async () => {
      await catalogueLoaded();
      const before = await available("MUG-001");
      expect(await placeOrder("MUG-001", 2, "tok_visa")).to.equal("done");
      // The earlier "unauthenticated" alert is gone.
      expect(await alertText()).to.equal("");
      const result = page.getByTestId("order-result");
      expect(await result.isVisible()).to.equal(true);
      expect(await result.getAttribute("data-state")).to.equal("CONFIRMED");
      expect(await page.getByTestId("order-state").textContent()).to.equal("CONFIRMED");
      expect(await page.getByTestId("order-total").textContent()).to.equal("$28.00");
      expect(await page.getByTestId("order-cancel-detail").isVisible()).to.equal(false);
      expect(await page.getByTestId("order-status").textContent()).to.equal("Order confirmed.");
      confirmedOrderId = (await page.getByTestId("order-id").textContent()) ?? "";
      expect(confirmedOrderId).to.not.equal("");

      const item = page.getByTestId("my-orders").locator(`[data-testid="orders-item"][data-order-id="${confirmedOrderId}"]`);
      await item.waitFor();
      expect(await item.getAttribute("data-state")).to.equal("CONFIRMED");
      expect(await item.getByTestId("orders-item-state").textContent()).to.equal("CONFIRMED");
      expect(await item.getByTestId("orders-item-total").textContent()).to.equal("$28.00");
      expect(await item.textContent()).to.contain("2 × MUG-001");
      expect(await page.getByTestId("orders-status").textContent()).to.equal("1 order.");

      // Two mugs sold: the page shows the catalogue again with two fewer.
      await availableBecomes("MUG-001", before - 2);
      await page.screenshot({ path: path.join(outputDir, "browser-order-confirmed.png"), fullPage: true });
    });

    it("cancels an order paid with tok_declined, shows why, and leaves the stock as it was", async () => {
      await catalogueLoaded();
      const before = await available("MUG-001");
      expect(await placeOrder("MUG-001", 2, "tok_declined")).to.equal("done");
      expect(await alertText()).to.equal("");
      expect(await page.getByTestId("order-result").getAttribute("data-state")).to.equal("CANCELLED");
      expect(await page.getByTestId("order-state").textContent()).to.equal("CANCELLED");
      expect(await page.getByTestId("order-total").textContent()).to.equal("$28.00");
      const detail = page.getByTestId("order-cancel-detail");
      expect(await detail.isVisible()).to.equal(true);
      expect(await page.getByText("Why", { exact: true }).isVisible()).to.equal(true);
      const detailText = (await detail.textContent()) ?? "";
      expect(detailText).to.match(/^PAYMENT_DECLINED\b/);
      expect(detailText).to.match(/declined/i);
      const declinedOrderId = (await page.getByTestId("order-id").textContent()) ?? "";
      expect(declinedOrderId).to.not.equal("").and.not.equal(confirmedOrderId);

      const item = page.locator(`[data-testid="orders-item"][data-order-id="${declinedOrderId}"]`);
      await item.waitFor();
      expect(await item.getAttribute("data-state")).to.equal("CANCELLED");
      expect(await item.getByTestId("orders-item-cancel-detail").textContent()).to.equal(detailText);
      await page.screenshot({ path: path.join(outputDir, "browser-order-declined.png"), fullPage: true });

      // A fresh look: reload the page. The stock is what it was before the declined order,
      // and both orders are still listed (the token survives the reload).
      await page.reload();
      await catalogueLoaded();
      expect(await available("MUG-001")).to.equal(before);
      await page.locator('[data-testid="my-orders"][data-state="loaded"]').waitFor();
      expect(await page.getByLabel("Token").inputValue()).to.equal(token);
      const states = await page
        .getByTestId("orders-item")
        .evaluateAll((lis) => Object.fromEntries(lis.map((li) => [li.getAttribute("data-order-id"), li.getAttribute("data-state")])));
      expect(states).to.deep.equal({ [confirmedOrderId]: "CONFIRMED", [declinedOrderId]: "CANCELLED" });
      await page.screenshot({ path: path.join(outputDir, "browser-after-reload.png"), fullPage: true });
    });
  });

  describe("CORS, enforced by the browser", () => {
    async function runFrom(server: OriginServer, screenshot: string): Promise<CorsResults> {
      const context = await browser!.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${server.origin}/`);
        expect(await page.evaluate(() => location.origin)).to.equal(server.origin);
        expect(server.origin).to.not.equal(new URL(gatewayUrl).origin);
        await page.locator('body[data-done="true"]').waitFor({ timeout: 30_000 });
        await page.screenshot({ path: path.join(outputDir, screenshot), fullPage: true });
        return await page.evaluate(() => (window as unknown as { results: CorsResults }).results);
      } finally {
        await context.close();
      }
    }

    it("lets a page from a listed origin read the catalogue (REST GET and Connect POST with preflight)", async () => {
      const results = await runFrom(allowed!, "browser-cors-allowed.png");
      expect(results.rest, JSON.stringify(results.rest)).to.include({ ok: true, status: 200 });
      expect(results.rest.items).to.be.at.least(6);
      expect(results.rest.skus).to.include("MUG-001");
      // An exposed response header is readable from the other origin.
      expect(results.rest.requestId).to.be.a("string").and.not.equal("");
      expect(results.connect, JSON.stringify(results.connect)).to.include({ ok: true, status: 200 });
      expect(results.connect.items).to.be.at.least(6);
    });

    it("refuses a page from an origin not listed: the fetch fails in the browser", async () => {
      const results = await runFrom(other!, "browser-cors-blocked.png");
      expect(results.rest).to.deep.equal({ ok: false, error: "TypeError: Failed to fetch" });
      expect(results.connect).to.deep.equal({ ok: false, error: "TypeError: Failed to fetch" });

      // The gateway is up and answers that origin; it only withholds the CORS headers,
      // so the failure above is the browser's CORS refusal, not a dead gateway.
      const plain = await fetch(`${gatewayUrl}/v1/inventory/items`, { headers: { origin: other!.origin } });
      expect(plain.status).to.equal(200);
      expect(plain.headers.get("access-control-allow-origin")).to.equal(null);
      const preflight = await fetch(`${gatewayUrl}/meshwork.inventory.v1.InventoryService/ListItems`, {
        method: "OPTIONS",
        headers: { origin: other!.origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
      expect(preflight.headers.get("access-control-allow-origin")).to.equal(null);
      const allowedPreflight = await fetch(`${gatewayUrl}/meshwork.inventory.v1.InventoryService/ListItems`, {
        method: "OPTIONS",
        headers: { origin: allowed!.origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
      expect(allowedPreflight.status).to.equal(204);
      expect(allowedPreflight.headers.get("access-control-allow-origin")).to.equal(allowed!.origin);
    });
  });
});

interface FetchResult {
  ok: boolean;
  status?: number;
  items?: number;
  skus?: string[];
  requestId?: string | null;
  error?: string;
}

interface CorsResults {
  rest: FetchResult;
  connect: FetchResult;
}

interface OriginServer {
  readonly origin: string;
  /** Set once the gateway is up; the page is rendered per request. */
  gatewayUrl: string;
  close(): Promise<void>;
}

/** A page on its own origin whose script calls the gateway with fetch and records what happened. */
function corsPage(name: string, gatewayUrl: string): string {
  const script = `
const gateway = ${JSON.stringify(gatewayUrl)};
const results = {};
async function attempt(key, url, init) {
  try {
    const res = await fetch(url, init);
    const body = await res.json();
    results[key] = {
      ok: true,
      status: res.status,
      items: Array.isArray(body.items) ? body.items.length : -1,
      skus: Array.isArray(body.items) ? body.items.map((i) => i.sku) : [],
      requestId: res.headers.get("x-request-id"),
    };
  } catch (err) {
    results[key] = { ok: false, error: String(err) };
  }
}
await attempt("rest", gateway + "/v1/inventory/items");
await attempt("connect", gateway + "/meshwork.inventory.v1.InventoryService/ListItems", {
  method: "POST",
  headers: { "content-type": "application/json", "connect-protocol-version": "1" },
  body: "{}",
});
window.results = results;
document.getElementById("out").textContent = JSON.stringify(
  Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.ok ? { ok: true, status: v.status, items: v.items } : v])),
  null,
  2,
);
document.body.dataset.done = "true";
`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${name} origin</title><link rel="icon" href="data:,"></head>
<body><h1>${name} origin: fetch from ${gatewayUrl}</h1><pre id="out">…</pre>
<script type="module">${script}</script></body></html>`;
}

async function startOriginServer(name: string): Promise<OriginServer> {
  const state = { gatewayUrl: "" };
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.method === "GET" && req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(corsPage(name, state.gatewayUrl));
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    get gatewayUrl() {
      return state.gatewayUrl;
    },
    set gatewayUrl(url: string) {
      state.gatewayUrl = url;
    },
    async close() {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
