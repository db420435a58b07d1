// A benchmark server (serving-target.ts) in a child process, pinned to a core
// when asked, spoken to over IPC: its port when ready, its CPU time on demand.
import type { ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { IpcChild } from "./ipc-child.js";
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
  port = 0;

  static start(kind: TargetKind, options: StartOptions = {}): TargetProcess {
    return new TargetProcess(kind, IpcChild.start(kind, targetEntry, [kind], { ...options, cwd: root, stopGraceMs: 3_000, discardStdout: kind === "mesh-production" }));
  }

  private constructor(
    readonly kind: TargetKind,
    private readonly child: IpcChild<ParentMessage, TargetMessage>,
  ) {}

  get process(): ChildProcess {
    return this.child.process;
  }

  /** Waits for the child's "ready" and records its port. */
  async ready(timeoutMs: number): Promise<number> {
    this.port = (await this.child.ask(undefined, "ready", timeoutMs)).port;
    return this.port;
  }

  /** CPU time (user + system, all threads) the child used so far, in µs. */
  async cpu(): Promise<number> {
    const { user, system } = await this.child.ask({ type: "cpu" }, "cpu", 5_000);
    return user + system;
  }

  /** Asks the child to exit; kills it (by its PID) if it has not within 3 s. */
  stop(): Promise<void> {
    return this.child.stop();
  }
}
