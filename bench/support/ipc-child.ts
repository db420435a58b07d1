// A benchmark's child process (a bench file run with a role, a serving
// target), pinned to a core when asked, spoken to one request at a time over
// IPC: the messages it sends are taken in order, each by the next `ask`. The
// child's end is parent-channel.ts.
import { spawn, type ChildProcess } from "node:child_process";

/** Every IPC message has a type; a child reports a failed request as {type: "error", message}. */
export interface IpcMessage {
  readonly type: string;
}

export interface IpcChildOptions {
  /** The child's working directory. */
  readonly cwd: string;
  /** Pin the child (every thread) to this core with taskset. Default: not pinned. */
  readonly core?: number | undefined;
  /** Extra node flags for the child, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  /** Read the child's stdout and drop it (a process that logs every call). Default: shown. */
  readonly discardStdout?: boolean;
  /** How long `stop` waits for the child to exit before it kills it. Default: 5 s. */
  readonly stopGraceMs?: number;
}

export class IpcChild<Sent extends IpcMessage, Received extends IpcMessage> {
  private readonly unread: Received[] = [];
  private readonly readers: ((message: Received) => void)[] = [];
  private readonly exited: Promise<void>;

  /** Runs `script` with `node --import tsx`, with `args` after it and an IPC channel; its output is this process's. */
  static start<Sent extends IpcMessage, Received extends IpcMessage>(
    name: string,
    script: string,
    args: readonly string[],
    options: IpcChildOptions,
  ): IpcChild<Sent, Received> {
    const command = [process.execPath, ...(options.nodeArgs ?? []), "--import", "tsx", script, ...args];
    const [file, ...rest] = options.core === undefined ? command : ["taskset", "-c", String(options.core), ...command];
    const child = spawn(file!, rest, { cwd: options.cwd, stdio: ["ignore", options.discardStdout === true ? "pipe" : "inherit", "inherit", "ipc"] });
    child.stdout?.resume();
    return new IpcChild(name, child, options.stopGraceMs ?? 5_000);
  }

  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
    private readonly stopGraceMs: number,
  ) {
    process.on("message", (message: Received) => {
      const reader = this.readers.shift();
      if (reader === undefined) {
        this.unread.push(message);
      } else {
        reader(message);
      }
    });
    this.exited = new Promise((resolve) => process.once("exit", () => resolve()));
  }

  /** The PID (taskset execs node, so it is node's own). */
  get pid(): number {
    return this.process.pid!;
  }

  /**
   * Sends `message` (none: just waits, e.g. for "ready") and takes the
   * child's next message, which must be of type `reply`; an "error" reply,
   * another type, the child exiting or `timeoutMs` passing fails.
   */
  ask<T extends Received["type"]>(message: Sent | undefined, reply: T, timeoutMs: number): Promise<Extract<Received, { type: T }>> {
    const got = new Promise<Received>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${reply} within ${timeoutMs} ms`)), timeoutMs);
      const settle = (m: Received): void => {
        clearTimeout(timer);
        resolve(m);
      };
      const early = this.unread.shift();
      if (early !== undefined) {
        settle(early);
      } else {
        this.readers.push(settle);
      }
      void this.exited.then(() => reject(new Error(`${this.name} exited (${this.process.exitCode ?? this.process.signalCode})`)));
    });
    if (message !== undefined && this.process.connected) {
      this.process.send(message);
    }
    return got.then((m) => {
      if (m.type === "error") {
        throw new Error(`${this.name}: ${(m as IpcMessage & { message?: unknown }).message}`);
      }
      if (m.type !== reply) {
        throw new Error(`${this.name}: expected ${reply}, got ${m.type}`);
      }
      return m as Extract<Received, { type: T }>;
    });
  }

  /** Asks the child to exit ({type: "stop"}); kills it (by its PID) if it has not within the stop grace. */
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) {
      return;
    }
    if (this.process.connected) {
      this.process.send({ type: "stop" } satisfies IpcMessage);
    }
    const killer = setTimeout(() => this.process.kill("SIGKILL"), this.stopGraceMs);
    await this.exited;
    clearTimeout(killer);
  }
}
