import { expect } from "chai";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../../test/support/chromium.js";
import { bundleWebApp, type WebApp } from "./bundle.js";

const outputDir = path.resolve(import.meta.dirname, "../../test-output");

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * The page in real headless Chromium, served by a tiny HTTP server that knows
 * only `/` and `/app.js`: every API call (Connect and REST) is answered 404
 * with a JSON error, as the gateway writes errors. No gateway is involved.
 */
describe("gateway web page (bundle in Chromium, no gateway)", function () {
  this.timeout(60_000);
  let app: WebApp;
  let server: http.Server;
  let origin: string;
  let browser: Browser | undefined;
  let page: Page;
  let seen: Seen[];
  let pageErrors: Error[];

  before(async () => {
    // First, so that a missing chromium fails the suite (never skips it) before anything else starts.
    browser = await launchChromium();
    app = await bundleWebApp();
    server = http.createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      req.resume();
      if (req.method === "GET" && req.url === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(app.html);
      } else if (req.method === "GET" && req.url === "/app.js") {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(app.js);
      } else {
        const body = { code: "not_found", message: `no route for ${req.method} ${req.url}`, details: [] };
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify(body));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await browser?.close();
    if (server?.listening) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  beforeEach(async () => {
    seen = [];
    pageErrors = [];
    const context = await browser!.newContext();
    page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err));
    await page.goto(`${origin}/`);
  });

  afterEach(async () => {
    await page.context().close();
  });

  it("bundles app.ts into one browser module and reads index.html", () => {
    expect(app.html).to.contain('<script type="module" src="/app.js"></script>');
    expect(app.js.length).to.be.greaterThan(1000);
    expect(app.js).not.to.match(/\brequire\(/);
  });

  it("renders the labelled form and shows the failed catalogue request in the alert", async () => {
    await page.getByTestId("catalogue").and(page.locator('[data-state="error"]')).waitFor();

    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).to.equal(
      "not_found: no route for POST /meshwork.inventory.v1.InventoryService/ListItems",
    );
    expect(await page.getByTestId("catalogue-status").textContent()).to.equal("The catalogue could not be loaded.");
    expect(await page.getByTestId("catalogue-row").count()).to.equal(0);

    // The form, found the way a person (or a screen reader) finds it.
    expect(await page.getByLabel("Token").getAttribute("id")).to.equal("token");
    expect(await page.getByText("Paste a token from make token SUB=alice").isVisible()).to.equal(true);
    expect(await page.getByLabel("Item").getAttribute("id")).to.equal("order-sku");
    expect(await page.getByLabel("Quantity").inputValue()).to.equal("1");
    expect(await page.getByLabel("Card").locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).to.deep.equal([
      "tok_visa",
      "tok_declined",
      "tok_insufficient_funds",
      "tok_slow_2000",
    ]);
    // Nothing to order without a catalogue.
    expect(await page.getByRole("button", { name: "Place order" }).isDisabled()).to.equal(true);
    expect(await page.getByTestId("orders-status").textContent()).to.equal("Paste a token to see your orders.");

    // The catalogue went over Connect (JSON) with the generated client; no REST call without a token.
    const api = seen.filter((r) => r.url !== "/" && r.url !== "/app.js");
    expect(api.map((r) => `${r.method} ${r.url}`)).to.deep.equal([
      "POST /meshwork.inventory.v1.InventoryService/ListItems",
    ]);
    expect(api[0]!.headers["content-type"]).to.equal("application/json");
    expect(api[0]!.headers["connect-protocol-version"]).to.equal("1");
    expect(pageErrors).to.deep.equal([]);

    await mkdir(outputDir, { recursive: true });
    await page.screenshot({ path: path.join(outputDir, "web-page-catalogue-error.png"), fullPage: true });
  });

  it("sends the pasted token to GET /v1/orders and adds its JSON error to the alert", async () => {
    await page.getByTestId("catalogue").and(page.locator('[data-state="error"]')).waitFor();
    await page.getByLabel("Token").fill("  Bearer abc.def.ghi ");
    await page.getByLabel("Token").press("Enter"); // a "change" event: the page loads the orders
    await page.getByTestId("my-orders").and(page.locator('[data-state="error"]')).waitFor();

    const orders = seen.filter((r) => r.url === "/v1/orders");
    expect(orders).to.have.length(1);
    expect(orders[0]!.method).to.equal("GET");
    expect(orders[0]!.headers.authorization).to.equal("Bearer abc.def.ghi");
    expect(await page.getByRole("alert").textContent()).to.equal(
      "not_found: no route for POST /meshwork.inventory.v1.InventoryService/ListItems\n" +
        "not_found: no route for GET /v1/orders",
    );
    expect(await page.getByTestId("orders-status").textContent()).to.equal("Your orders could not be loaded.");
    expect(pageErrors).to.deep.equal([]);

    // The token survives a reload (sessionStorage), and the orders load again with it.
    seen = [];
    await page.reload();
    await page.getByTestId("my-orders").and(page.locator('[data-state="error"]')).waitFor();
    expect(await page.getByLabel("Token").inputValue()).to.equal("abc.def.ghi");
    expect(seen.filter((r) => r.url === "/v1/orders").map((r) => r.headers.authorization)).to.deep.equal([
      "Bearer abc.def.ghi",
    ]);
  });
});
