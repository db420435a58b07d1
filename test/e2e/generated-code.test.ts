import { expect } from "chai";
import { execFile } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const check = path.join(root, "scripts/check-generated.sh");

/** The gen/ freshness gate of `make test` (scripts/check-generated.sh). */
describe("generated code gate", function () {
  this.timeout(60_000);
  let copy: string;
  beforeEach(() => {
    copy = mkdtempSync(path.join(os.tmpdir(), "meshwork-gen-"));
    cpSync(path.join(root, "gen"), copy, { recursive: true });
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  it("passes gen/ exactly as make generate writes it", async () => {
    const { stdout } = await run(check, [copy]);
    expect(stdout).to.contain("is up to date");
  });

  it("fails, naming the file, when a generated file was edited by hand", async () => {
    appendFileSync(path.join(copy, "meshwork/orders/v1/orders_pb.ts"), "\n// edited\n");
    const err = await run(check, [copy]).then(
      () => expect.fail("the gate passed an edited file"),
      (e: { code: number; stderr: string }) => e,
    );
    expect(err.code).to.equal(1);
    expect(err.stderr).to.contain("orders_pb.ts");
  });

  it("fails when a generated file is missing", async () => {
    unlinkSync(path.join(copy, "meshwork/inventory/v1/inventory_pb.ts"));
    const err = await run(check, [copy]).then(
      () => expect.fail("the gate passed a missing file"),
      (e: { code: number; stderr: string }) => e,
    );
    expect(err.code).to.equal(1);
    expect(err.stderr).to.contain("inventory");
  });
});
