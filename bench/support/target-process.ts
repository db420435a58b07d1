// A benchmark server (serving-target.ts) in a child process, pinned to a core
// when asked, spoken to over IPC: its port when ready, its CPU time on demand.
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ParentMessage, TargetKind, TargetMessage } from "./serving-target.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targetEntry = join(root, "bench", "support", "serving-target.ts");

export interface StartOptions {
  /** Pin the child (every thread) to this core with taskset. Default: not pinned. */
  readonly core?: number;
  /** Extra node flags for the child, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
}

/** A server child: its IPC messages are taken in order. */
export class TargetProcess {
  private readonly unread: TargetMessage[] = [];
  private readonly readers: ((message: TargetMessage) => void)[] = [];
  private readonly exited: Promise<void>;
  port = 0;

  static start(kind: TargetKind, options: StartOptions = {}): TargetProcess {
    const command = [process.execPath, "--import", "tsx", ...(options.nodeArgs ?? []), targetEntry, kind];
    const [file, ...rest] = options.core === undefined ? command : ["taskset", "-c", String(options.core), ...command];
    const child = spawn(file!, rest, { cwd: root, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new TargetProcess(kind, child);
  }

  private constructor(
    readonly kind: TargetKind,
    readonly process: ChildProcess,
  ) {
    process.on("message", (message: TargetMessage) => {
      const reader = this.readers.shift();
      if (reader === undefined) {
        this.unread.push(message);
      } else {
        reader(message);
      }
    });
    this.exited = new Promise((resolve) => process.once("exit", () => resolve()));
  }

  /** Waits for the child's "ready" and records its port. */
  async ready(timeoutMs: number): Promise<number> {
    const message = await this.next(timeoutMs);
    if (message.type !== "ready") {
      throw new Error(`${this.kind}: expected ready, got ${message.type}`);
    }
    this.port = message.port;
    return message.port;
  }

  /** CPU time (user + system, all threads) the child used so far, in µs. */
  async cpu(): Promise<number> {
    const reply = this.next(5_000);
    this.send({ type: "cpu" });
    const message = await reply;
    if (message.type !== "cpu") {
      throw new Error(`${this.kind}: unexpected ${message.type}`);
    }
    return message.user + message.system;
  }

  /** Asks the child to exit; kills it (by its PID) if it has not within 3 s. */
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) {
      return;
    }
    this.send({ type: "stop" });
    const killer = setTimeout(() => this.process.kill("SIGKILL"), 3_000);
    await this.exited;
    clearTimeout(killer);
  }

  private next(timeoutMs: number): Promise<TargetMessage> {
    const message = this.unread.shift();
    if (message !== undefined) {
      return Promise.resolve(message);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind}: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.readers.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.exited.then(() => reject(new Error(`${this.kind}: server exited`)), () => undefined);
    });
  }

  private send(message: ParentMessage): void {
    if (this.process.connected) {
      this.process.send(message);
    }
  }
}
