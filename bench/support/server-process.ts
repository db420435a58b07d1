// A server main (a Meshwork service, the gateway, the ceiling) in its own OS
// process, pinned to a core when asked, on a port this process picked, and
// ready once a probe request answers. With LOG_LEVEL=warn the services do not
// log their "serving" line, so the port is chosen here rather than read back.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";

export interface ServerProcessOptions {
  readonly name: string;
  /** The script to run with `node --import tsx`. */
  readonly main: string;
  readonly cwd: string;
  readonly env: Record<string, string>;
  /** Pin the process (every thread, and children it starts) to this core. */
  readonly core?: number;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  /** Arguments after the script. */
  readonly args?: readonly string[];
}

export class ServerProcess {
  private output = "";
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly command: string,
  ) {
    const keep = (chunk: Buffer): void => {
      // The tail only: enough to explain a failure.
      this.output = (this.output + chunk.toString()).slice(-8_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  static start(options: ServerProcessOptions): ServerProcess {
    const command = [process.execPath, ...(options.nodeArgs ?? []), "--import", "tsx", options.main, ...(options.args ?? [])];
    const argv = options.core === undefined ? command : ["taskset", "-c", String(options.core), ...command];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    return new ServerProcess(options.name, child, argv.join(" "));
  }

  /** The PID (taskset execs node, so it is node's own). */
  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) {
      throw new Error(`${this.name}: not started`);
    }
    return pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the process wrote last (stdout and stderr). */
  get log(): string {
    return this.output;
  }

  /** Polls `probe` until it resolves true; fails if the process exits or time runs out. */
  async waitReady(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (!this.running) {
        throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before serving:\n${this.output}`);
      }
      if (await probe().catch(() => false)) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} did not answer within ${timeoutMs} ms:\n${this.output}`);
  }

  /** SIGTERM to its PID; SIGKILL to its PID if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) {
      return;
    }
    this.child.kill("SIGTERM");
    const killer = setTimeout(() => {
      if (this.running) {
        this.child.kill("SIGKILL");
      }
    }, graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  /** SIGKILL to its PID, synchronously (for exit paths). */
  killNow(): void {
    if (this.running) {
      this.child.kill("SIGKILL");
    }
  }
}

/** A free TCP port on 127.0.0.1 (bound then released; a tiny race, fine on a bench box). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
