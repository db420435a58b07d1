import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const fixture = join(dirname(fileURLToPath(import.meta.url)), "log-destination-child.fixture.ts");

interface Run {
  child: ChildProcess;
  /** Resolves with the parsed lines once `count` have arrived. */
  lines(count: number): Promise<Record<string, unknown>[]>;
  exited: Promise<number | null>;
}

function start(how: string): Run {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, how], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    waiters.splice(0).forEach((w) => w());
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // Whole lines only: a pipe read may end inside a line, whose rest comes with the next chunk.
  const parsed = () =>
    text
      .slice(0, text.lastIndexOf("\n") + 1)
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    child,
    exited,
    lines: async (count) => {
      while (parsed().length < count) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return parsed();
    },
  };
}

describe("batched stdout (the default log destination)", function () {
  this.timeout(30_000);
  const running: ChildProcess[] = [];
  afterEach(() => running.splice(0).forEach((c) => c.kill("SIGKILL")));

  it("writes the lines of a process that then logs nothing more and stays alive", async () => {
    const run = start("idle");
    running.push(run.child);
    // Fewer bytes than one batch: only the linger timer can write them.
    const lines = await run.lines(3);
    expect(lines.map((l) => l.n)).to.deep.equal([0, 1, 2]);
    expect(run.child.exitCode).to.equal(null);
  });

  it("writes every line, whole and in order, when many batches fill", async () => {
    const run = start("many");
    running.push(run.child);
    const lines = await run.lines(2_000);
    expect(lines.map((l) => l.n)).to.deep.equal(Array.from({ length: 2_000 }, (_, i) => i));
  });

  it("writes what is gathered before process.exit ends the process", async () => {
    const run = start("exit");
    running.push(run.child);
    expect(await run.exited).to.equal(0);
    expect((await run.lines(3)).map((l) => l.msg)).to.deep.equal(["line", "line", "line"]);
  });

  it("writes what is gathered before an uncaught exception ends the process", async () => {
    const run = start("throw");
    running.push(run.child);
    expect(await run.exited).to.equal(1);
    expect((await run.lines(3)).length).to.equal(3);
  });
});
