import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { grpcTarget } from "../../scripts/load/grpc-target.js";
import type { LoadSummary } from "../../scripts/load/load-summary.js";
import { runOpenLoop } from "../../scripts/load/open-loop.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { startService } from "../support/service-process.js";
import { testCredentialDir } from "../support/test-identity.js";
import { WorkloadCredentials } from "../../mesh/identity/workload-credentials.js";
import { credentialFilesIn } from "../../mesh/identity/credential-files.js";

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

describe("make load (open-loop load generator)", function () {
  this.timeout(180_000);

  describe("against a running mesh's gateway", () => {
    let mesh: TestMesh;
    let out: string;
    before(async () => {
      // The mesh as it runs by default: mTLS between its processes.
      mesh = await startMesh({ gateway: {} });
      out = mkdtempSync(path.join(os.tmpdir(), "meshwork-load-"));
    });
    after(async () => {
      await mesh?.stop();
      if (out !== undefined) {
        rmSync(out, { recursive: true, force: true });
      }
    });

    it("runs 10 s at a fixed rate through the REST mix, achieves the offered rate, and writes the table and the report", async () => {
      const { stdout } = await run(
        process.execPath,
        ["--import", "tsx", "scripts/load.ts", "--url", mesh.gateway!.url, "--stages", "10s@20", "--out", out, "--data-dir", mesh.dataDir, "--quiet"],
        { cwd: root },
      );
      for (const row of ["rate offered", "rate achieved", "latency p50", "latency p90", "latency p99", "latency p99.9", "latency max", "errors"]) {
        expect(stdout, row).to.contain(row);
      }
      const summary = JSON.parse(readFileSync(path.join(out, "results.json"), "utf8")) as LoadSummary;
      expect(summary.offeredRate).to.equal(20);
      // The generator offered exactly the schedule, second by second, whatever the answers.
      expect(summary.seconds.slice(0, 10).map((s) => s.offered)).to.deep.equal(Array(10).fill(20));
      // When the mesh keeps up (every answer within half a second: the run
      // ends at most that much after its 10 s), what comes back is what was
      // offered, within 5%. On a machine so loaded that it does not, the
      // achieved rate is what came back over the time it took.
      if (summary.latencyMs.max < 500) {
        expect(summary.achievedRate).to.be.within(19, 21);
      } else {
        expect(summary.achievedRate).to.be.below(20);
      }
      expect(summary.requests).to.equal(200);
      expect(summary.codes.find((c) => c.code === "ok")?.count, JSON.stringify(summary.codes)).to.equal(200);
      const html = readFileSync(path.join(out, "report.html"), "utf8");
      expect(html).to.contain("Latency over time");
      expect(html).to.contain("Latency histogram");
      expect(html.match(/<svg /g)).to.have.length(3);
    });

    it("refuses a schedule it cannot read, naming it", async () => {
      const err = await run(process.execPath, ["--import", "tsx", "scripts/load.ts", "--stages", "10@20"], { cwd: root }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).to.equal(2);
      expect(err?.stderr).to.contain('cannot read stage "10@20"');
      expect(existsSync(path.join(root, "test-output", "load-10@20"))).to.equal(false);
    });
  });

  describe("against a service over mTLS (the default), as an operator", () => {
    let dataDir: string;
    let inventory: Awaited<ReturnType<typeof startService>>;
    let out: string;
    before(async () => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-load-grpc-"));
      out = mkdtempSync(path.join(os.tmpdir(), "meshwork-load-grpc-out-"));
      inventory = await startService("inventory", { DATA_DIR: dataDir });
    });
    after(async () => {
      await inventory?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    });

    it("runs the grpc target with an operator's certificate (--tls-dir): every call answered ok", async () => {
      expect(inventory.url).to.match(/^https:/);
      const operatorDir = await testCredentialDir("load-test", { kind: "operator" });
      const { stdout } = await run(
        process.execPath,
        ["--import", "tsx", "scripts/load.ts", "--target", "grpc", "--url", inventory.url, "--tls-dir", operatorDir, "--stages", "3s@20", "--out", out, "--quiet"],
        { cwd: root },
      );
      expect(stdout).to.contain("rate achieved");
      const summary = JSON.parse(readFileSync(path.join(out, "results.json"), "utf8")) as LoadSummary;
      expect(summary.requests).to.equal(60);
      expect(summary.codes, JSON.stringify(summary.codes)).to.deep.equal([{ code: "ok", count: 60 }]);
    });

    it("refuses to start without credentials (no --tls-dir, no mesh CA in the data directory), saying what to do, and writes nothing", async () => {
      const outDir = path.join(out, "refused");
      const err = await run(
        process.execPath,
        ["--import", "tsx", "scripts/load.ts", "--target", "grpc", "--url", inventory.url, "--data-dir", dataDir, "--stages", "1s@1", "--out", outDir, "--quiet"],
        { cwd: root, env: { ...process.env, MESH_INSECURE: "" } },
      ).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).to.equal(2);
      expect(err?.stderr).to.contain(`no mesh CA in ${path.join(dataDir, "ca")}`);
      expect(err?.stderr).to.contain("--tls-dir");
      expect(existsSync(outDir)).to.equal(false);
      expect(existsSync(path.join(dataDir, "tls", "operators", "load"))).to.equal(false);
    });

    it("refuses a --tls-dir without the three files, naming the missing ones", async () => {
      const err = await run(
        process.execPath,
        ["--import", "tsx", "scripts/load.ts", "--target", "grpc", "--url", inventory.url, "--tls-dir", dataDir, "--stages", "1s@1", "--quiet"],
        { cwd: root },
      ).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).to.equal(2);
      expect(err?.stderr).to.contain("lacks tls.crt, tls.key, ca.crt");
    });

    it("is refused by the service without a client certificate: a cleartext client gets no answer from the mTLS port", async () => {
      const load = grpcTarget({ url: inventory.url.replace(/^https:/, "http:"), skus: ["MUG-001"], timeoutMs: 3_000 });
      try {
        expect(await load.send(0)).to.not.equal("ok");
      } finally {
        await load.close();
      }
    });
  });

  it("measures latency from the intended send time: a server stalled for 1 s shows about 1 s at the tail on every request due during the stall", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-load-stall-"));
    // Over mTLS, as the mesh runs by default, with an operator's certificate.
    const inventory = await startService("inventory", { DATA_DIR: dataDir });
    const tls = new WorkloadCredentials(credentialFilesIn(await testCredentialDir("load-test", { kind: "operator" })));
    const load = grpcTarget({ url: inventory.url, skus: ["MUG-001", "TEE-001"], tls });
    try {
      // 100/s for 4 s; after 1.5 s the server is stopped (SIGSTOP) for 1 s.
      const stall = setTimeout(() => {
        inventory.child.kill("SIGSTOP");
        setTimeout(() => inventory.child.kill("SIGCONT"), 1_000);
      }, 1_500);
      const result = await runOpenLoop({ stages: [{ durationMs: 4_000, fromRate: 100, toRate: 100 }], send: load.send });
      clearTimeout(stall);
      const r = result.recorder;
      expect(r.count).to.equal(400);
      // Every call answered, late or not: a refused call would be a fast sample.
      expect(Object.fromEntries(r.codes), JSON.stringify([...r.codes])).to.deep.equal({ ok: 400 });
      expect(r.maxMs).to.be.at.least(900);
      // About 100 requests were due during the stall, waiting from ~1 s down
      // to ~0: about half of them 500 ms or more. A closed-loop generator
      // would have sent one request and waited: one slow sample.
      const slow = r.distribution().filter((b) => b.fromMs >= 500).reduce((n, b) => n + b.count, 0);
      expect(slow, JSON.stringify(r.distribution())).to.be.at.least(30);
      expect(r.percentileMs(99)).to.be.at.least(500);
    } finally {
      inventory.child.kill("SIGCONT");
      await load.close();
      tls.close();
      await inventory.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
