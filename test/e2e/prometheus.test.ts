import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { OrderService, OrderState } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { ClientFactory } from "../../mesh/index.js";
import { bareTarget } from "../support/bare-target.js";
import { freePort } from "../support/free-port.js";
import { DevTokens, httpRequest } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

/** The Debian package's binary (.ci/run installs it). */
const prometheusBin = "/usr/bin/prometheus";

/** One sample of an instant vector, as /api/v1/query returns it. */
interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A real Prometheus server scraping every process of a running mesh, each as its own job. */
class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: () => string,
  ) {}

  static async start(targets: Record<string, string>): Promise<PrometheusServer> {
    if (!existsSync(prometheusBin)) {
      throw new Error(`${prometheusBin} is missing: apt-get install -y prometheus (.ci/run installs it)`);
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-prometheus-"));
    const scrapeConfigs = Object.entries(targets)
      .map(([job, address]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${address}"]\n`)
      .join("");
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrapeConfigs}`,
    );
    const port = await freePort();
    const child = spawn(
      prometheusBin,
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir, () => output);
    const ready = await eventually(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`prometheus exited with ${child.exitCode}: ${output}`);
        }
        return fetch(`${server.url}/-/ready`).then(
          (res) => res.status,
          () => 0,
        );
      },
      (status) => status === 200,
    );
    expect(ready, output).to.equal(200);
    return server;
  }

  /** The instant vector of a PromQL expression, now. */
  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
    expect(body.status, `${expr}: ${body.error ?? ""}`).to.equal("success");
    expect(body.data?.resultType).to.equal("vector");
    return body.data!.result;
  }

  /** Queries until `done` holds for the result (or a minute has passed), and returns the last result. */
  until(expr: string, done: (result: Sample[]) => boolean): Promise<Sample[]> {
    return eventually(() => this.query(expr), done, 60_000);
  }

  /** Stops the server by its PID and removes its configuration and data. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      process.kill(this.child.pid!, "SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  get log(): string {
    return this.output();
  }
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > giveUp) {
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const value = (samples: Sample[]): number[] => samples.map((s) => Number(s.value[1]));

describe("a real Prometheus server scraping the mesh", function () {
  this.timeout(180_000);
  let mesh: TestMesh;
  let prometheus: PrometheusServer | undefined;
  let clients: ClientFactory;

  before(async () => {
    mesh = await startMesh({
      // A breaker that, once open, stays open for the rest of the test.
      env: { BREAKER_VOLUME_THRESHOLD: "4", BREAKER_RESET_MS: "600000", SAGA_RESUME_MS: "600000" },
      gateway: { RATE_LIMIT_PER_SECOND: "1000", RATE_LIMIT_BURST: "1000" },
    });
    clients = new ClientFactory();
    prometheus = await PrometheusServer.start({
      inventory: mesh.inventory.address,
      payments: mesh.payments.address,
      orders: mesh.orders.address,
      gateway: mesh.gateway!.address,
    });
  });
  after(async () => {
    await prometheus?.stop();
    clients.close();
    await mesh.stop();
  });

  it("scrapes every process (up = 1)", async () => {
    const up = await prometheus!.until("up", (r) => r.length === 4 && value(r).every((v) => v === 1));
    expect(up.map((s) => [s.metric.job, s.value[1]]).sort(), prometheus!.log).to.deep.equal([
      ["gateway", "1"],
      ["inventory", "1"],
      ["orders", "1"],
      ["payments", "1"],
    ]);
  });

  it("counts PlaceOrder on orders, gateway requests by route template, and shows the orders -> payments breaker closed", async () => {
    const token = await new DevTokens(mesh.dataDir).sign("alice");
    for (let i = 0; i < 3; i++) {
      const placed = await httpRequest(mesh.gateway!.url, {
        method: "POST",
        path: "/v1/orders",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ requestId: `prom-${i}`, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" }),
      });
      expect(placed.status, placed.text).to.equal(200);
    }

    const placeOrder = await prometheus!.until(
      'meshwork_server_requests_total{job="orders",method="PlaceOrder",code="ok"}',
      (r) => value(r)[0] === 3,
    );
    expect(value(placeOrder)).to.deep.equal([3]);

    const routed = await prometheus!.until(
      'meshwork_gateway_requests_total{job="gateway",protocol="rest",route="/v1/orders",method="POST",status="200",code="ok"}',
      (r) => value(r)[0] === 3,
    );
    expect(value(routed)).to.deep.equal([3]);

    const upstream = await prometheus!.until(
      'meshwork_client_requests_total{job="gateway",target="orders",method="PlaceOrder",code="ok"}',
      (r) => value(r)[0] === 3,
    );
    expect(value(upstream)).to.deep.equal([3]);

    const breaker = await prometheus!.until(
      'meshwork_breaker_state{job="orders",target="payments",method="meshwork.payments.v1.PaymentService/AuthorizePayment"}',
      (r) => r.length === 1,
    );
    expect(value(breaker)).to.deep.equal([0]);
  });

  it("shows the breaker open (2) once payments is killed and orders keep failing", async () => {
    await mesh.payments.kill();
    const orders = clients.client(OrderService, bareTarget(mesh.orders.url));
    // Three authorizations succeeded in the breaker's window: four failures pass 50%.
    for (let i = 0; i < 8; i++) {
      const { order } = await orders.placeOrder(
        { requestId: `prom-down-${i}`, lines: [{ sku: "MUG-001", quantity: 1 }], cardToken: "tok_visa" },
        { headers: { "x-customer-id": "alice" } },
      );
      expect(order?.state).to.equal(OrderState.CANCELLED);
    }
    const authorize = 'target="payments",method="meshwork.payments.v1.PaymentService/AuthorizePayment"';
    const open = await prometheus!.until(`meshwork_breaker_state{job="orders",${authorize}}`, (r) => value(r)[0] === 2);
    expect(value(open), prometheus!.log).to.deep.equal([2]);
    const opened = await prometheus!.until(
      `meshwork_breaker_transitions_total{job="orders",${authorize},to="open"}`,
      (r) => value(r)[0] === 1,
    );
    expect(value(opened)).to.deep.equal([1]);
    const down = await prometheus!.until('up{job="payments"}', (r) => value(r)[0] === 0);
    expect(value(down)).to.deep.equal([0]);
  });
});
