import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";

const root = path.resolve(import.meta.dirname, "..");

/** Runs the check as `make deps-check` does: its own process, tsx loader; resolves with its exit status and output. */
async function depsCheck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", path.join(root, "scripts", "check-dependencies.ts"), ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

describe("scripts/check-dependencies.ts (make deps-check)", function () {
  this.timeout(60000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "deps-check-script-"));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("exits 0 on the repo's lock, one line per check", async () => {
    const { code, stdout } = await depsCheck([]);
    expect(code, stdout).to.equal(0);
    expect(stdout.trim().split("\n").map((line) => line.split(":")[0])).to.deep.equal(["ok   lockfile", "ok   install scripts", "ok   licenses"]);
  });

  it("exits 1 naming each package that fails, under its check", async () => {
    const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, object> };
    lock.packages["node_modules/left-pad"] = { version: "1.3.0", integrity: "sha512-" + "A".repeat(86) + "==", license: "GPL-3.0-only", hasInstallScript: true };
    const file = path.join(dir, "package-lock.json");
    writeFileSync(file, JSON.stringify(lock));

    const { code, stdout } = await depsCheck(["--lock", file]);
    expect(code, stdout).to.equal(1);
    expect(stdout).to.contain("ok   lockfile:");
    expect(stdout).to.contain("FAIL install scripts:\n  - left-pad@1.3.0 runs an install script and is not on the allowlist");
    expect(stdout).to.contain('FAIL licenses:\n  - left-pad@1.3.0 has license "GPL-3.0-only", which the allowlist does not allow');
  });

  it("exits 2 naming a lock it cannot read, or an option it does not know, with its usage", async () => {
    const absent = path.join(dir, "absent-lock.json");
    const unreadable = await depsCheck(["--lock", absent]);
    expect(unreadable.code).to.equal(2);
    expect(unreadable.stderr).to.contain(`${absent}: cannot read the lockfile`);
    const unknown = await depsCheck(["--lockfile", absent]);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.contain("Unknown option '--lockfile'").and.to.contain("usage: tsx scripts/check-dependencies.ts");
  });
});
