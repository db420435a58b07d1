// `make build` and what it promises: every main runs from dist/ with plain
// node and the production dependencies only (no tsx, no esbuild, no
// TypeScript), and the gateway serves the pages bundled at build time and the
// OpenAPI prose from the API image built beside it.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { DevTokens, httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

describe("production build (make build)", function () {
  this.timeout(120_000);
  let work: string;
  let mesh: TestMesh | undefined;

  before(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), "meshwork-build-"));
    await run(process.execPath, ["--import", "tsx", "scripts/build.ts", "--out", path.join(work, "dist")], { cwd: root });
    await run(path.join(root, "scripts/production-modules.sh"), [work], { cwd: root });
    mesh = await startMesh({ dist: path.join(work, "dist"), gateway: {} });
  });

  after(async () => {
    await mesh?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("installs only production dependencies beside the build", () => {
    for (const dev of ["tsx", "esbuild", "typescript", "mocha", "@bufbuild/buf"]) {
      expect(existsSync(path.join(work, "node_modules", dev)), dev).to.equal(false);
    }
    expect(existsSync(path.join(work, "node_modules", "better-sqlite3"))).to.equal(true);
  });

  it("leaves tests and TypeScript sources out of dist/", async () => {
    const { stdout } = await run("find", [path.join(work, "dist"), "-name", "*.ts", "-o", "-name", "*.test.js"]);
    expect(stdout.trim()).to.equal("");
  });

  it("runs the whole mesh from dist/ with plain node: an order through the gateway confirms", async () => {
    const gateway = mesh!.gateway!.url;
    const token = await new DevTokens(mesh!.dataDir).sign("alice");
    const placed = await httpRequest(gateway, {
      method: "POST",
      path: "/v1/orders",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ requestId: "build-1", lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }),
    });
    expect(placed.status, placed.text).to.equal(200);
    expect((placed.json as { order?: { state?: string } }).order?.state, placed.text).to.equal("ORDER_STATE_CONFIRMED");
    for (const process of [mesh!.inventory, mesh!.payments, mesh!.orders, mesh!.notifications, mesh!.gateway!]) {
      expect(process.child.spawnargs.join(" "), process.name).not.to.contain("tsx");
    }
  });

  it("serves the pages bundled at build time and OpenAPI prose from the built API image", async () => {
    const gateway = mesh!.gateway!.url;
    const app = await httpRequest(gateway, { method: "GET", path: "/app.js" });
    expect(app.status).to.equal(200);
    expect(app.text).to.equal(readFileSync(path.join(work, "dist/gateway/web/app.bundle.js"), "utf8"));
    const meshApp = await httpRequest(gateway, { method: "GET", path: "/mesh/app.js" });
    expect(meshApp.text).to.equal(readFileSync(path.join(work, "dist/gateway/mesh-page/page-app.bundle.js"), "utf8"));
    const openApi = (await httpRequest(gateway, { method: "GET", path: "/openapi.json" })).json as {
      paths: Record<string, Record<string, { description?: string }>>;
    };
    const placeOrder = openApi.paths["/v1/orders"]?.post;
    expect(placeOrder?.description ?? "").to.not.equal("");
  });
});
