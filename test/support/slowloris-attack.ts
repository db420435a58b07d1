import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { withFileLimit } from "./file-limit.js";

/** How many connections an attack holds, of each kind. */
export interface SlowlorisShape {
  /** Connections that never send a byte. */
  readonly idle: number;
  /** Connections that dribble HTTP/1.1 header lines forever, one line every `dribbleEveryMs`. */
  readonly dribbling: number;
  readonly dribbleEveryMs?: number;
}

export interface DriverCount {
  readonly open: number;
  readonly closedByServer: number;
  readonly answered408: number;
}

export interface Opened {
  /** How long opening every connection took, in the driver. */
  readonly openMs: number;
  readonly open: number;
  readonly closedByServer: number;
}

/**
 * The slowloris driver child (test/support/slowloris-driver.ts), started with
 * an open-file limit for the connections it holds, so the process using it
 * (a test, a benchmark) keeps few descriptors of its own.
 */
export class SlowlorisDriver {
  private readonly child: ChildProcess;
  private readonly replies: ((message: { type: string } & Record<string, unknown>) => void)[] = [];

  constructor(
    private readonly shape: SlowlorisShape,
    fileLimit = shape.idle + shape.dribbling + 1_024,
  ) {
    const script = path.resolve(import.meta.dirname, "slowloris-driver.ts");
    const { command, args } = withFileLimit(fileLimit, process.execPath, ["--import", "tsx", script]);
    this.child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (message: { type: string } & Record<string, unknown>) => this.replies.shift()?.(message));
  }

  private ask(command: object): Promise<{ type: string } & Record<string, unknown>> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.send(command);
    });
  }

  /** Opens every connection to 127.0.0.1:`port`; resolves once all are established. */
  async open(port: number): Promise<Opened> {
    const { idle, dribbling, dribbleEveryMs = 500 } = this.shape;
    const reply = await this.ask({ type: "open", port, idle, dribbling, dribbleEveryMs });
    if (reply.type !== "opened") {
      throw new Error(`the driver could not open its connections: ${String(reply.message)}`);
    }
    return reply as unknown as Opened;
  }

  async count(): Promise<DriverCount> {
    return (await this.ask({ type: "count" })) as unknown as DriverCount;
  }

  /** Closes every connection it still holds and ends the child. */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) {
        resolve();
        return;
      }
      this.child.once("exit", () => resolve());
      this.child.send({ type: "stop" });
    });
  }
}
