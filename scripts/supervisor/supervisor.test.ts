import { expect } from "chai";
import net from "node:net";
import { freePort } from "../../test/support/free-port.js";
import { PortsInUseError, Supervisor, type ProcessSpec, type ProcessStatus } from "./supervisor.js";
import { eventually } from "../../test/support/eventually.js";

/**
 * A real child process: a TCP server on its port that answers "ok" (its health
 * check), or, with CRASH=1, one that exits with code 1 at once. Its restart
 * count comes from SUPERVISOR_RESTARTS.
 */
const child = `
const net = require("node:net");
if (process.env.CRASH === "1") process.exit(1);
net.createServer((s) => s.end("ok " + process.env.SUPERVISOR_RESTARTS)).listen(Number(process.env.PORT), "127.0.0.1");
`;

function spec(name: string, port: number, env: Record<string, string> = {}): ProcessSpec {
  return {
    name,
    port,
    host: "127.0.0.1",
    command: process.execPath,
    args: ["-e", child],
    cwd: process.cwd(),
    env: { ...process.env, PORT: String(port), ...env },
    isServing: () => answer(port).then((text) => text.startsWith("ok")),
  };
}

/** What the child on `port` says (its restart count), or a throw when nothing listens. */
function answer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.once("end", () => resolve(text));
    socket.once("error", reject);
  });
}

describe("the supervisor (make run)", function () {
  this.timeout(60_000);
  let supervisor: Supervisor | undefined;
  afterEach(async () => {
    await supervisor?.stop(2_000);
    supervisor = undefined;
  });

  it("restarts a process that was killed, with a growing backoff, and counts it", async () => {
    const port = await freePort();
    const reports: string[] = [];
    const exits: { restarts: number; inMs: number }[] = [];
    supervisor = new Supervisor([spec("svc", port)], { stdio: "ignore", initialBackoffMs: 50, report: (l) => reports.push(l) });
    supervisor.on("exited", (e) => exits.push({ restarts: e.restarts, inMs: e.inMs }));
    const [first] = await supervisor.start();
    expect(first).to.include({ state: "serving", restarts: 0 });
    expect(await answer(port)).to.equal("ok 0");

    for (let n = 1; n <= 3; n++) {
      const pid = supervisor.status()[0]!.pid;
      supervisor.signal("svc", "SIGKILL");
      await eventually(`restart ${n}`, () => supervisor!.status()[0]!.restarts === n && supervisor!.status()[0]!.pid !== pid, (ok) => ok, { intervalMs: 20 });
      expect(await supervisor.whenServing("svc")).to.equal(true);
      // The restarted process knows its count (serviceRuntime publishes it as meshwork_process_restarts).
      expect(await answer(port)).to.equal(`ok ${n}`);
    }
    const status: ProcessStatus = supervisor.status()[0]!;
    expect(status).to.include({ state: "serving", restarts: 3, lastExit: "signal SIGKILL" });
    // Exponential: 50, 100, 200 ms (the runs were short, so the backoff did not reset).
    expect(exits.map((e) => e.inMs)).to.deep.equal([50, 100, 200]);
    expect(reports[0]).to.equal("svc exited unexpectedly (signal SIGKILL); restarting in 50 ms (restart 1)");
  });

  it("reports a crash loop and keeps trying, at a backoff capped by maxBackoffMs", async () => {
    const port = await freePort();
    const reports: string[] = [];
    supervisor = new Supervisor([spec("crasher", port, { CRASH: "1" })], {
      stdio: "ignore",
      initialBackoffMs: 10,
      maxBackoffMs: 40,
      crashLoopRestarts: 4,
      startTimeoutMs: 5_000,
      report: (l) => reports.push(l),
    });
    await supervisor.start();
    await eventually("five restarts", () => supervisor!.status()[0]!.restarts >= 5, (ok) => ok, { intervalMs: 20 });
    const loop = reports.find((l) => l.startsWith("crasher is crash-looping"));
    expect(loop).to.match(/^crasher is crash-looping: 4 exits in the last 120 s \(last: code 1\); restarting in 40 ms$/);
    expect(["crash-loop", "starting"]).to.include(supervisor.status()[0]!.state);
  });

  it("refuses to start when a port is already taken, naming it, and starts nothing", async () => {
    const [free, taken] = [await freePort(), await freePort()];
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(taken, "127.0.0.1", resolve));
    try {
      supervisor = new Supervisor([spec("inventory", free), spec("orders", taken)], { stdio: "ignore" });
      const err = await supervisor.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(PortsInUseError);
      expect((err as Error).message).to.contain(`port already in use: orders 127.0.0.1:${taken}`);
      expect(supervisor.status().map((s) => s.pid)).to.deep.equal([undefined, undefined]);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it("waits, saying so, while a restarting process's port is held by another", async () => {
    const port = await freePort();
    const reports: string[] = [];
    supervisor = new Supervisor([spec("svc", port)], { stdio: "ignore", initialBackoffMs: 20, maxBackoffMs: 100, report: (l) => reports.push(l) });
    await supervisor.start();
    supervisor.signal("svc", "SIGKILL");
    // Take the port as soon as the process is gone, before its restart.
    await eventually("the exit", () => supervisor!.status()[0]!.state === "backoff", (ok) => ok, { intervalMs: 20 });
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    try {
      await eventually("port-in-use", () => supervisor!.status()[0]!.state === "port-in-use", (ok) => ok, { intervalMs: 20 });
      expect(reports.some((l) => l === `svc: port 127.0.0.1:${port} is in use by another process; trying again in 40 ms`)).to.equal(true);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    expect(await supervisor.whenServing("svc")).to.equal(true);
    expect(supervisor.status()[0]!.restarts).to.equal(1);
  });
});
