import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";
import { eventually } from "./eventually.js";

/** The Debian package's binary (make test installs it). */
export const prometheusBin = "/usr/bin/prometheus";

/** One sample of an instant vector, as /api/v1/query returns it. */
export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** One alert as /api/v1/alerts lists it. */
export interface PrometheusAlert {
  readonly labels: Record<string, string>;
  readonly state: "pending" | "firing";
  readonly activeAt: string;
}

export interface PrometheusServerOptions {
  /** Job name -> "host:port" scraped every second. */
  readonly targets: Record<string, string>;
  /** Rule files loaded (copied beside the configuration), evaluated every second. */
  readonly ruleFiles?: readonly string[];
  /** The port to listen on (e.g. one given to a process before the server starts). Default: a free one. */
  readonly port?: number;
  /**
   * Job name -> the bearer token its scrapes send (the gateway's /metrics
   * needs an admin token), from a file as prometheus/prometheus.yml reads it.
   */
  readonly bearerTokens?: Record<string, string>;
}

/** A real Prometheus server, on an ephemeral port, scraping each target as its own job. */
export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: () => string,
  ) {}

  static async start({ targets, ruleFiles = [], port: chosenPort, bearerTokens = {} }: PrometheusServerOptions): Promise<PrometheusServer> {
    if (!existsSync(prometheusBin)) {
      throw new Error(`${prometheusBin} is missing: apt-get install -y prometheus (make test installs it)`);
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-prometheus-"));
    const rules = ruleFiles.map((file, i) => {
      const copy = path.join(dir, `rules-${i}.yml`);
      copyFileSync(file, copy);
      return copy;
    });
    const authorization = (job: string): string => {
      const token = bearerTokens[job];
      if (token === undefined) return "";
      const file = path.join(dir, `${job}.token`);
      writeFileSync(file, token, { mode: 0o600 });
      return `    authorization:\n      credentials_file: ${JSON.stringify(file)}\n`;
    };
    const scrapeConfigs = Object.entries(targets)
      .map(([job, address]) => `  - job_name: ${job}\n${authorization(job)}    static_configs:\n      - targets: ["${address}"]\n`)
      .join("");
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n" +
        (rules.length > 0 ? `rule_files:\n${rules.map((r) => `  - ${JSON.stringify(r)}\n`).join("")}` : "") +
        `scrape_configs:\n${scrapeConfigs}`,
    );
    const port = chosenPort ?? (await freePort());
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
      "prometheus to be ready",
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
    ).catch(() => 0);
    if (ready !== 200) {
      await server.stop();
      throw new Error(`prometheus did not become ready: ${output}`);
    }
    return server;
  }

  /** The instant vector of a PromQL expression, now. */
  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
    if (body.status !== "success" || body.data?.resultType !== "vector") {
      throw new Error(`${expr}: ${body.error ?? JSON.stringify(body)}`);
    }
    return body.data.result;
  }

  /** Queries until `done` holds for the result, and returns it; fails after `timeoutMs`. */
  until(expr: string, done: (result: Sample[]) => boolean, timeoutMs = 60_000): Promise<Sample[]> {
    return eventually(`${expr} to satisfy the test`, () => this.query(expr), done, { timeoutMs, intervalMs: 250 });
  }

  /** The alerts pending or firing now. */
  async alerts(): Promise<PrometheusAlert[]> {
    const res = await fetch(`${this.url}/api/v1/alerts`);
    const body = (await res.json()) as { status: string; data: { alerts: PrometheusAlert[] } };
    return body.data.alerts;
  }

  /** Reads the alerts until `done` holds for them, and returns them; fails after `timeoutMs`. */
  alertsUntil(done: (alerts: PrometheusAlert[]) => boolean, timeoutMs = 60_000): Promise<PrometheusAlert[]> {
    return eventually("the alerts to satisfy the test", () => this.alerts(), done, { timeoutMs, intervalMs: 250 });
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

