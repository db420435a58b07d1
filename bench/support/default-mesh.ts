// The mesh as `make run` starts it (scripts/run-mesh.ts: every service and
// the gateway its own process, info logs to the supervisor's output, metrics,
// tracing configured from OTEL_* with nothing exported, the /mesh collector
// polling), for bench/defaults.ts: on free ports, in a temporary data
// directory, pinned to a core when asked, its output read through a pipe.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./server-process.js";
import { descendantsOf } from "./proc-cpu.js";

export const meshProcessNames = ["inventory", "payments", "orders", "notifications", "gateway"] as const;
export type MeshProcessName = (typeof meshProcessNames)[number];

export interface DefaultMeshOptions {
  readonly root: string;
  readonly dataDir: string;
  /** Pin the supervisor, and so every process it starts, to this core. */
  readonly core?: number;
  /** Variables beside make run's (the bench raises the gateway's rate limit). */
  readonly env: Readonly<Record<string, string>>;
  /** Profile every process (bench/support/cpu-profile-preload.mjs) into this directory. */
  readonly profileDir?: string;
}

export class DefaultMesh {
  /** Lines the processes wrote (their logs), read and dropped as a terminal would show them. */
  lines = 0;
  private tail = "";
  private readonly exited: Promise<void>;

  private constructor(
    readonly supervisor: ChildProcess,
    readonly ports: Readonly<Record<MeshProcessName, number>>,
    readonly command: string,
  ) {
    const read = (chunk: Buffer): void => {
      const text = chunk.toString();
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) {
        this.lines++;
      }
      this.tail = (this.tail + text).slice(-8_000);
    };
    supervisor.stdout!.on("data", read);
    supervisor.stderr!.on("data", read);
    this.exited = new Promise((resolve) => supervisor.once("exit", () => resolve()));
  }

  static async start(options: DefaultMeshOptions): Promise<DefaultMesh> {
    const ports = {} as Record<MeshProcessName, number>;
    for (const name of meshProcessNames) {
      ports[name] = await freePort();
    }
    const node = [process.execPath, "--import", "tsx", join(options.root, "scripts", "run-mesh.ts")];
    const argv = options.core === undefined ? node : ["taskset", "-c", String(options.core), ...node];
    const profiling =
      options.profileDir === undefined
        ? {}
        : {
            NODE_OPTIONS: `--import ${join(options.root, "bench", "support", "cpu-profile-preload.mjs")}`,
            BENCH_CPU_PROFILE_DIR: options.profileDir,
          };
    const supervisor = spawn(argv[0]!, argv.slice(1), {
      cwd: options.root,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        ...options.env,
        ...profiling,
        MESH_DATA_DIR: options.dataDir,
        INVENTORY_PORT: String(ports.inventory),
        PAYMENTS_PORT: String(ports.payments),
        ORDERS_PORT: String(ports.orders),
        NOTIFICATIONS_PORT: String(ports.notifications),
        GATEWAY_PORT: String(ports.gateway),
      },
    });
    return new DefaultMesh(supervisor, ports, argv.join(" "));
  }

  /** Waits for the supervisor's "Mesh is up" line. */
  async ready(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.tail.includes("Mesh is up.")) {
      if (this.supervisor.exitCode !== null || this.supervisor.signalCode !== null) {
        throw new Error(`the mesh exited before it was up:\n${this.tail}`);
      }
      if (Date.now() > until) {
        throw new Error(`the mesh was not up within ${timeoutMs} ms:\n${this.tail}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  url(name: MeshProcessName): string {
    return `http://127.0.0.1:${this.ports[name]}`;
  }

  /** The PID of each process the supervisor started, found by its main's path on its command line. */
  pids(): Record<MeshProcessName, number> {
    const found = {} as Record<MeshProcessName, number>;
    for (const pid of descendantsOf(this.supervisor.pid!)) {
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      const name = meshProcessNames.find((n) => cmdline.includes(n === "gateway" ? "gateway/main.ts" : `services/${n}/main.ts`));
      if (name !== undefined) {
        found[name] = pid;
      }
    }
    for (const name of meshProcessNames) {
      if (found[name] === undefined) {
        throw new Error(`no ${name} process under the supervisor ${this.supervisor.pid}`);
      }
    }
    return found;
  }

  /** What the processes wrote last. */
  get output(): string {
    return this.tail;
  }

  /** SIGTERM to the supervisor (which stops every process); SIGKILL to it after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.supervisor.exitCode !== null || this.supervisor.signalCode !== null) {
      return;
    }
    this.supervisor.kill("SIGTERM");
    const killer = setTimeout(() => this.supervisor.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  /** SIGKILL to the supervisor and every process under it, by PID (exit paths). */
  killNow(): void {
    for (const pid of descendantsOf(this.supervisor.pid!)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    this.supervisor.kill("SIGKILL");
  }
}
