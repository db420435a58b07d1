import { expect } from "chai";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..", "..");

// Benchmarks are not tests (make bench runs them); this only shows that each
// one still loads (every import resolves) and reads its command line: given
// --rounds 0, each stops at once with exit code 2 and says what --rounds takes.
describe("benchmark scripts start", function () {
  this.timeout(60_000);
  for (const bench of ["defaults", "grpc-serving", "client-stack", "mtls", "gateway", "observability", "events", "stores"]) {
    it(`bench/${bench}.ts`, () => {
      const run = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "bench", `${bench}.ts`), "--rounds", "0"], {
        cwd: root,
        encoding: "utf8",
        timeout: 50_000,
      });
      expect(run.status, `${run.stdout}${run.stderr}`).to.equal(2);
      expect(run.stderr).to.include("--rounds takes an integer from 1");
    });
  }

  it("bench/run-all.ts (make bench) refuses an unknown benchmark before running any", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "bench", "run-all.ts"), "--only", "no-such-bench"], {
      cwd: root,
      encoding: "utf8",
      timeout: 50_000,
    });
    expect(run.status, `${run.stdout}${run.stderr}`).to.equal(2);
    expect(run.stderr).to.include("--only takes some of defaults, grpc-serving");
  });
});
