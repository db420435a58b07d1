import { expect } from "chai";
import { loadCatalogue } from "../../platform/catalogue/index.js";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const buf = path.join(root, "node_modules/.bin/buf");

/** Ports free right now, for a process that needs fixed ports. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Runs the shell blocks of the README's walk-through against the running mesh,
 * as a user would paste them, with the default ports swapped for this run's.
 * Two substitutions: `make -s token` becomes the script it runs (make would
 * first check dependencies), and lines needing an id from an earlier answer
 * (`<order_id>`) are left out.
 */
async function runReadmeWalkthrough(ports: {
  dataDir: string;
  inventory: number;
  payments: number;
  orders: number;
  notifications: number;
  gateway: number;
}) {
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Walk-through"), readme.indexOf("\n## ", readme.indexOf("## Walk-through") + 5));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks.length).to.be.greaterThan(1);
  const script = blocks
    .join("\n")
    .split("\n")
    .filter((line) => !line.includes("<order_id>"))
    .join("\n")
    .replaceAll("localhost:8080", `127.0.0.1:${ports.gateway}`)
    .replaceAll("127.0.0.1:50051", `127.0.0.1:${ports.inventory}`)
    .replaceAll("127.0.0.1:50052", `127.0.0.1:${ports.payments}`)
    .replaceAll("127.0.0.1:50053", `127.0.0.1:${ports.orders}`)
    .replaceAll("127.0.0.1:50054", `127.0.0.1:${ports.notifications}`)
    .replaceAll("make -s token SUB=alice", "node --import tsx scripts/token.ts --sub alice")
    .replaceAll("make -s cert NAME=alice-operator", "node --import tsx scripts/cert.ts --name alice-operator")
    .replaceAll("OP=.data/", `OP=${ports.dataDir}/`);
  const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], {
    cwd: root,
    env: { ...process.env, MESH_DATA_DIR: ports.dataDir },
  });
  expect(stdout).to.contain('"sku":"MUG-001"');
  expect(stdout).to.contain("ORDER_STATE_CONFIRMED");
  expect(stdout).to.contain("ORDER_STATE_CANCELLED");
  expect(stdout).to.contain("CANCEL_REASON_PAYMENT_DECLINED");
  expect(stdout).to.contain('"code":"invalid_argument"');
  expect(stdout).to.contain('"code":"unauthenticated"');
  expect(stdout).to.contain("meshwork.inventory.v1.InventoryService");
  expect(stdout).to.contain("grpc.health.v1.Health");
}

/**
 * What `make run` runs: the supervisor starts every service, prints the table
 * once all are SERVING, serves the README walk-through (buf curl with no local
 * schema), and stops everything with exit 0 on Ctrl-C.
 */
describe("make run (the supervisor)", function () {
  // Bounds for a broken start, not measures of speed: five processes compile
  // under tsx at once, which took about 60 s on a loaded 2-core machine.
  this.timeout(300_000);

  it("starts the mesh, serves the walk-through, and stops cleanly on SIGINT", async () => {
    // Any other service of the catalogue (one `make service` added) gets a free port too.
    const demo = ["inventory", "payments", "orders", "notifications", "gateway"];
    const others = loadCatalogue(root).services.map((s) => s.manifest.name).filter((name) => !demo.includes(name));
    const [inventory, payments, orders, notifications, gateway, ...rest] = await freePorts(5 + others.length);
    const otherPorts = Object.fromEntries(rest.map((port, i) => [`${others[i]!.toUpperCase()}_PORT`, String(port)]));
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-run-"));
    // Its own process group, so that a failed test can stop the supervisor and
    // every process it started at once (by the group's id, never by name).
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/run-mesh.ts"], {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        MESH_DATA_DIR: dataDir,
        LOG_LEVEL: "warn",
        INVENTORY_PORT: String(inventory),
        PAYMENTS_PORT: String(payments),
        ORDERS_PORT: String(orders),
        NOTIFICATIONS_PORT: String(notifications),
        GATEWAY_PORT: String(gateway),
        ...otherPorts,
      },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      for (let i = 0; i < 1_500 && !output.includes("Mesh is up"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output).to.contain("Mesh is up");
      for (const [name, port] of [
        ["inventory", inventory],
        ["payments", payments],
        ["orders", orders],
        ["notifications", notifications],
        ["gateway", gateway],
      ] as const) {
        const scheme = name === "gateway" ? "http" : "https";
        expect(output).to.match(new RegExp(`${name}\\s+\\d+\\s+${scheme}://127\\.0\\.0\\.1:${port}\\s+SERVING`));
      }
      // The development mode, said above the table.
      expect(output).to.contain("Development mode (MESH_ENV=development)");
      // The card processor is chosen, not fallen back to, and the table says which.
      expect(output).to.match(/payments\s+\d+\s+\S+\s+SERVING\s+0\s+card processor: simulated \(PAYMENT_PROCESSOR\), test tokens for anyone/);
      expect(output).not.to.contain("PAYMENT_PROCESSOR unset");
      // As the gateway, with the identity make run issued it: the contracts
      // let it call these and assert the customer.
      const tls = path.join(dataDir, "tls", "gateway");
      const curl = async (port: number, method: string, body: object, headers: string[] = []) =>
        JSON.parse(
          (
            await run(buf, [
              "curl", "--protocol", "grpc", ...headers,
              "--cert", path.join(tls, "tls.crt"), "--key", path.join(tls, "tls.key"), "--cacert", path.join(tls, "ca.crt"),
              "--servername", `${method.split(".")[1]}.meshwork.local`,
              "-d", JSON.stringify(body), `https://127.0.0.1:${port}/${method}`,
            ])
          ).stdout,
        ) as Record<string, unknown>;
      const items = await curl(inventory!, "meshwork.inventory.v1.InventoryService/ListItems", { page_size: 3 });
      expect(items.items).to.have.length(3);
      const placed = await curl(
        orders!,
        "meshwork.orders.v1.OrderService/PlaceOrder",
        { request_id: "walkthrough-1", lines: [{ sku: "MUG-001", quantity: 2 }], card_token: "tok_visa" },
        ["-H", "x-customer-id: alice"],
      );
      expect((placed.order as Record<string, unknown>).state).to.equal("ORDER_STATE_CONFIRMED");
      // The order's events reach notifications over the embedded bus.
      const orderId = (placed.order as Record<string, unknown>).orderId;
      let sent: unknown[] = [];
      for (let i = 0; i < 100 && sent.length < 2; i++) {
        const listed = await curl(notifications!, "meshwork.notifications.v1.NotificationService/ListNotifications", { order_id: orderId }, [
          "-H",
          "x-customer-id: alice",
        ]);
        sent = (listed.notifications as unknown[] | undefined) ?? [];
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(sent.map((n) => (n as Record<string, unknown>).eventType)).to.deep.equal([
        "meshwork.orders.v1.OrderPlaced",
        "meshwork.orders.v1.OrderConfirmed",
      ]);
      await runReadmeWalkthrough({
        dataDir,
        inventory: inventory!,
        payments: payments!,
        orders: orders!,
        notifications: notifications!,
        gateway: gateway!,
      });

      // A killed process is restarted, not the end of the mesh: the table and
      // /mesh count the restart.
      const pid = Number(new RegExp(`inventory\\s+(\\d+)\\s+http`).exec(output)?.[1]);
      expect(pid).to.be.greaterThan(0);
      process.kill(pid, "SIGKILL");
      for (let i = 0; i < 1_500 && !output.includes("inventory is SERVING again"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output).to.contain("inventory exited unexpectedly (signal SIGKILL); restarting in 500 ms (restart 1)");
      expect(output).to.match(new RegExp(`inventory\\s+\\d+\\s+https://127\\.0\\.0\\.1:${inventory}\\s+SERVING\\s+1 \\(last: signal SIGKILL\\)`));
      expect((await curl(inventory!, "meshwork.inventory.v1.InventoryService/ListItems", { page_size: 1 })).items).to.have.length(1);
      let restarts: unknown;
      // The page's data is for operators; make run's prometheus.yml reads the admin token it wrote.
      const prometheusToken = readFileSync(path.join(dataDir, "prometheus", "gateway.token"), "utf8");
      expect((await fetch(`http://127.0.0.1:${gateway}/mesh/status.json`)).status).to.equal(401);
      for (let i = 0; i < 100 && restarts !== 1; i++) {
        const status = (await (await fetch(`http://127.0.0.1:${gateway}/mesh/status.json`, { headers: { authorization: `Bearer ${prometheusToken}` } })).json()) as {
          services: { name: string; endpoints: { restarts: number | null }[] }[];
        };
        restarts = status.services.find((s) => s.name === "inventory")?.endpoints[0]?.restarts;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(restarts, "/mesh shows the restart").to.equal(1);

      child.kill("SIGINT");
      expect(await exited).to.equal(0);
      expect(output).to.contain("Mesh stopped.");
    } finally {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is already gone
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("refuses MESH_ENV=production: it is the development mode", async () => {
    const result = await run(process.execPath, ["--import", "tsx", "scripts/run-mesh.ts"], {
      cwd: root,
      env: { ...process.env, MESH_ENV: "production", MESH_DATA_DIR: path.join(os.tmpdir(), "meshwork-run-never-made") },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain("MESH_ENV=production: make run is the development mode");
    expect(result.stderr).not.to.contain("SERVING");
  });

  it("stops at start, naming the port, when another process already listens on one of its ports", async () => {
    const [inventory, payments, orders, notifications, gateway] = await freePorts(5);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(orders, "127.0.0.1", resolve));
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-run-"));
    try {
      const result = await run(process.execPath, ["--import", "tsx", "scripts/run-mesh.ts"], {
        cwd: root,
        env: {
          ...process.env,
          MESH_DATA_DIR: dataDir,
          INVENTORY_PORT: String(inventory),
          PAYMENTS_PORT: String(payments),
          ORDERS_PORT: String(orders),
          NOTIFICATIONS_PORT: String(notifications),
          GATEWAY_PORT: String(gateway),
        },
      }).then(
        () => ({ code: 0, stderr: "" }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(result.code).to.equal(1);
      expect(result.stderr).to.contain(`port already in use: orders 127.0.0.1:${orders}`);
      expect(result.stderr).not.to.contain("SERVING");
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
