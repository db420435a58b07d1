import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import net from "node:net";

/** One process the supervisor keeps running. */
export interface ProcessSpec {
  readonly name: string;
  /** The port it listens on, checked free before every start. */
  readonly port: number;
  readonly host: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Whether it answers as serving now (a health check); a throw is "not yet". */
  readonly isServing: () => Promise<boolean>;
}

export interface SupervisorOptions {
  /**
   * The wait before the first restart; it doubles with every restart that
   * follows a short run, up to `maxBackoffMs`, as Kubernetes' restartPolicy
   * backs off (whose 10 s start suits a cluster, not a developer's laptop).
   * Default: 500 ms.
   */
  readonly initialBackoffMs?: number;
  /** The longest wait between restarts. Default: 30 s. */
  readonly maxBackoffMs?: number;
  /** A process that ran this long counts as recovered: its next restart waits `initialBackoffMs` again. Default: 60 s. */
  readonly resetAfterMs?: number;
  /** This many restarts within `crashLoopWindowMs` is a crash loop, reported as such. Default: 5. */
  readonly crashLoopRestarts?: number;
  /** Default: 2 minutes. */
  readonly crashLoopWindowMs?: number;
  /** How long a new process may take to answer as serving before the supervisor says so. Default: 60 s. */
  readonly startTimeoutMs?: number;
  /** stdio of the children. Default: inherit stdout and stderr. */
  readonly stdio?: "inherit" | "ignore";
  /** Where the supervisor reports restarts, crash loops and ports in use. Default: stderr. */
  readonly report?: (line: string) => void;
}

/**
 * - starting: spawned, not answering yet;
 * - serving: answering its health check;
 * - backoff: exited unexpectedly, waiting to be restarted;
 * - crash-loop: as backoff, after too many restarts in a short time;
 * - port-in-use: its port is taken by something else, waiting to try again;
 * - stopped: stopped by the supervisor.
 */
export type ProcessState = "starting" | "serving" | "backoff" | "crash-loop" | "port-in-use" | "stopped";

/** A supervised process as it is now. */
export interface ProcessStatus {
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
  readonly state: ProcessState;
  /** Restarts since the supervisor started it first. */
  readonly restarts: number;
  /** How it last exited: "code 1", "signal SIGKILL"; undefined if it never did. */
  readonly lastExit: string | undefined;
}

export interface SupervisorEvents {
  /** A process answers as serving (first start or after a restart). */
  serving: [ProcessStatus];
  /** A process exited without being asked to; `inMs` until the restart. */
  exited: [ProcessStatus & { readonly inMs: number }];
  /** A process was started again. */
  restarted: [ProcessStatus];
}

/** Ports that something else already listens on, found before the mesh started. */
export class PortsInUseError extends Error {
  constructor(readonly taken: readonly { name: string; host: string; port: number }[]) {
    super(
      `port${taken.length > 1 ? "s" : ""} already in use: ${taken.map((t) => `${t.name} ${t.host}:${t.port}`).join(", ")} ` +
        "(is another mesh running? stop it, or choose other ports with <NAME>_PORT)",
    );
  }
}

interface Supervised {
  readonly spec: ProcessSpec;
  child: ChildProcess | undefined;
  state: ProcessState;
  restarts: number;
  /** Consecutive short runs: the backoff's exponent. */
  failures: number;
  startedAt: number;
  restartTimes: number[];
  lastExit: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Keeps a set of processes running, as `make run` needs: each is started once
 * its port is free (a taken port at start is an error naming it, not a
 * process that cannot bind reported as serving); one that exits without being
 * asked to is restarted after an exponential backoff and counted, instead of
 * stopping the rest; too many restarts in a short time are reported as a crash
 * loop (and it is still restarted, at the longest backoff, as Kubernetes
 * does). `stop` ends them all with SIGTERM, then SIGKILL after a grace period.
 *
 * A restarted process gets SUPERVISOR_RESTARTS=<restarts so far> in its
 * environment, which serviceRuntime publishes as the meshwork_process_restarts
 * gauge for /mesh and Prometheus.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly processes: Supervised[];
  private readonly options: Required<Omit<SupervisorOptions, "report">>;
  private readonly report: (line: string) => void;
  private stopping = false;

  constructor(specs: readonly ProcessSpec[], options: SupervisorOptions = {}) {
    super();
    this.options = {
      initialBackoffMs: options.initialBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      resetAfterMs: options.resetAfterMs ?? 60_000,
      crashLoopRestarts: options.crashLoopRestarts ?? 5,
      crashLoopWindowMs: options.crashLoopWindowMs ?? 120_000,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      stdio: options.stdio ?? "inherit",
    };
    this.report = options.report ?? ((line) => process.stderr.write(`${line}\n`));
    this.processes = specs.map((spec) => ({
      spec,
      child: undefined,
      state: "stopped",
      restarts: 0,
      failures: 0,
      startedAt: 0,
      restartTimes: [],
      lastExit: undefined,
      timer: undefined,
    }));
  }

  /**
   * Checks every port, then starts every process in order and resolves when
   * each answers as serving (or its start timed out: its state says so).
   * Throws PortsInUseError, starting nothing, when a port is taken.
   */
  async start(): Promise<ProcessStatus[]> {
    const taken = [];
    for (const p of this.processes) {
      if (!(await portFree(p.spec.host, p.spec.port))) {
        taken.push({ name: p.spec.name, host: p.spec.host, port: p.spec.port });
      }
    }
    if (taken.length > 0) {
      throw new PortsInUseError(taken);
    }
    for (const p of this.processes) {
      this.spawn(p);
    }
    await Promise.all(this.processes.map((p) => this.waitServing(p)));
    return this.status();
  }

  /** Every process as it is now, in the order given. */
  status(): ProcessStatus[] {
    return this.processes.map(statusOf);
  }

  /**
   * Sends a signal to one process (e.g. SIGKILL, for chaos); what follows is
   * an unexpected exit. Returns the PID signalled, or undefined when no
   * process of that name is running (e.g. waiting out its backoff).
   */
  signal(name: string, signal: NodeJS.Signals): number | undefined {
    const p = this.processes.find((q) => q.spec.name === name);
    if (p?.child === undefined || p.child.exitCode !== null || p.child.signalCode !== null) {
      return undefined;
    }
    p.child.kill(signal);
    return p.child.pid;
  }

  /** Resolves when the named process answers as serving again (or `timeoutMs` passed: false). */
  async whenServing(name: string, timeoutMs = this.options.startTimeoutMs): Promise<boolean> {
    const p = this.processes.find((q) => q.spec.name === name);
    if (p === undefined) {
      return false;
    }
    const giveUp = Date.now() + timeoutMs;
    while (Date.now() < giveUp && !this.stopping) {
      if (p.state === "serving") {
        return true;
      }
      await sleep(50);
    }
    return p.state === "serving";
  }

  /** Stops restarting, then SIGTERMs every process and waits for each (SIGKILL after `graceMs`). */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.processes.map(async (p) => {
        clearTimeout(p.timer);
        const child = p.child;
        p.state = "stopped";
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
          return;
        }
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
        child.kill("SIGTERM");
        await exited;
        clearTimeout(kill);
      }),
    );
  }

  private spawn(p: Supervised): void {
    const { spec } = p;
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      stdio: ["ignore", this.options.stdio, this.options.stdio],
      env: { ...spec.env, SUPERVISOR_RESTARTS: String(p.restarts) },
    });
    p.child = child;
    p.state = "starting";
    p.startedAt = Date.now();
    child.once("exit", (code, signal) => this.onExit(p, child, code, signal));
  }

  private async waitServing(p: Supervised): Promise<void> {
    const child = p.child;
    const giveUp = Date.now() + this.options.startTimeoutMs;
    while (!this.stopping && p.child === child && child !== undefined && child.exitCode === null && child.signalCode === null) {
      if (await p.spec.isServing().catch(() => false)) {
        if (p.child === child && p.state === "starting") {
          p.state = "serving";
          this.emit("serving", statusOf(p));
        }
        return;
      }
      if (Date.now() > giveUp) {
        this.report(`${p.spec.name} did not answer as serving within ${this.options.startTimeoutMs} ms`);
        return;
      }
      await sleep(200);
    }
  }

  private onExit(p: Supervised, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || p.child !== child) {
      return;
    }
    const now = Date.now();
    p.lastExit = signal !== null ? `signal ${signal}` : `code ${code}`;
    // A long run is a recovery: back to the shortest backoff.
    p.failures = now - p.startedAt >= this.options.resetAfterMs ? 0 : p.failures + 1;
    p.restartTimes = p.restartTimes.filter((t) => t > now - this.options.crashLoopWindowMs);
    const crashLoop = p.restartTimes.length + 1 >= this.options.crashLoopRestarts;
    const inMs = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** Math.max(0, p.failures - 1));
    p.state = crashLoop ? "crash-loop" : "backoff";
    this.emit("exited", { ...statusOf(p), inMs });
    this.report(
      crashLoop
        ? `${p.spec.name} is crash-looping: ${p.restartTimes.length + 1} exits in the last ${Math.round(this.options.crashLoopWindowMs / 1000)} s ` +
            `(last: ${p.lastExit}); restarting in ${formatMs(inMs)}`
        : `${p.spec.name} exited unexpectedly (${p.lastExit}); restarting in ${formatMs(inMs)} (restart ${p.restarts + 1})`,
    );
    p.timer = setTimeout(() => void this.restart(p), inMs);
  }

  private async restart(p: Supervised): Promise<void> {
    if (this.stopping) {
      return;
    }
    if (!(await portFree(p.spec.host, p.spec.port))) {
      p.state = "port-in-use";
      p.failures++;
      const inMs = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** Math.max(0, p.failures - 1));
      this.report(`${p.spec.name}: port ${p.spec.host}:${p.spec.port} is in use by another process; trying again in ${formatMs(inMs)}`);
      p.timer = setTimeout(() => void this.restart(p), inMs);
      return;
    }
    p.restarts++;
    p.restartTimes.push(Date.now());
    this.spawn(p);
    this.emit("restarted", statusOf(p));
    await this.waitServing(p);
  }
}

function statusOf(p: Supervised): ProcessStatus {
  return { name: p.spec.name, port: p.spec.port, pid: p.child?.pid, state: p.state, restarts: p.restarts, lastExit: p.lastExit };
}

/** Whether nothing listens on host:port now (binding it ourselves, then letting go). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
