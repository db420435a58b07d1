import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { checkDependencies, type DependencyCheck } from "./check-dependencies.js";

const root = path.resolve(import.meta.dirname, "..", "..");
const repoLock = path.join(root, "package-lock.json");
const repoAllowlist = path.join(root, "scripts", "dependency-allowlist.json");

/** A lock as the tests edit it: entries as plain JSON. */
type Lock = { lockfileVersion: number; packages: Record<string, Record<string, unknown>> };
type Allowlist = { installScripts: Record<string, string>; licenses: Record<string, string> };

const sha512 = "sha512-" + "A".repeat(86) + "==";

describe("dependency checks (scripts/check-dependencies.ts)", function () {
  // Each check runs lockfile-lint in its own process.
  this.timeout(60000);
  let dir: string;
  let files = 0;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "deps-check-"));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** The repo's lock (or allowlist) changed by `edit`, written to a file of its own. */
  function lockWith(edit: (packages: Lock["packages"]) => void): string {
    const lock = JSON.parse(readFileSync(repoLock, "utf8")) as Lock;
    edit(lock.packages);
    const file = path.join(dir, `lock-${++files}.json`);
    writeFileSync(file, JSON.stringify(lock, null, 2));
    return file;
  }
  function allowlistWith(edit: (allowlist: Allowlist) => void): string {
    const allowlist = JSON.parse(readFileSync(repoAllowlist, "utf8")) as Allowlist;
    edit(allowlist);
    const file = path.join(dir, `allowlist-${++files}.json`);
    writeFileSync(file, JSON.stringify(allowlist, null, 2));
    return file;
  }
  const findingsOf = (checks: DependencyCheck[], name: DependencyCheck["name"]): readonly string[] =>
    checks.find((check) => check.name === name)!.findings;
  const allFindings = (checks: DependencyCheck[]): string[] => checks.flatMap((check) => check.findings);
  const newPackage = (fields: Record<string, unknown> = {}) => ({ version: "1.0.0", integrity: sha512, license: "MIT", ...fields });

  it("passes the repo's own lock and allowlist, and says the lock carries no resolved URLs", async () => {
    const checks = await checkDependencies(repoLock, repoAllowlist);
    expect(allFindings(checks)).to.deep.equal([]);
    expect(checks.find((check) => check.name === "lockfile")!.passed).to.contain("no resolved URLs");
    expect(checks.find((check) => check.name === "install scripts")!.passed).to.contain("better-sqlite3");
  });

  describe("install scripts", () => {
    it("fails naming a new package that runs one", async () => {
      const lock = lockWith((p) => { p["node_modules/left-pad"] = newPackage({ version: "1.3.0", hasInstallScript: true }); });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "install scripts");
      expect(findings).to.deep.equal(["left-pad@1.3.0 runs an install script and is not on the allowlist"]);
    });

    it("fails naming a locked package that gains one", async () => {
      const lock = lockWith((p) => { p["node_modules/yaml"]!.hasInstallScript = true; });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "install scripts");
      expect(findings).to.have.length(1);
      expect(findings[0]).to.match(/^yaml@\S+ runs an install script and is not on the allowlist$/);
    });

    it("judges an alias by the package it really is, not by its folder's allowed name", async () => {
      const lock = lockWith((p) => { p["node_modules/esbuild/node_modules/esbuild"] = newPackage({ name: "evil", hasInstallScript: true }); });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "install scripts");
      expect(findings).to.deep.equal(["evil@1.0.0 (node_modules/esbuild/node_modules/esbuild) runs an install script and is not on the allowlist"]);
    });

    it("fails on an allowlist entry that no locked package needs", async () => {
      const allowlist = allowlistWith((a) => { a.installScripts["node-pty"] = "a terminal"; });
      const findings = findingsOf(await checkDependencies(repoLock, allowlist), "install scripts");
      expect(findings).to.deep.equal(["node-pty is on the install-script allowlist but no locked package by that name runs one: remove the entry"]);
    });
  });

  describe("licenses", () => {
    it("fails naming a package whose license is not on the allowlist", async () => {
      const lock = lockWith((p) => { p["node_modules/copyleft"] = newPackage({ license: "GPL-3.0-only" }); });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "licenses");
      expect(findings).to.deep.equal(['copyleft@1.0.0 has license "GPL-3.0-only", which the allowlist does not allow']);
    });

    it("needs one allowed side of an OR and both sides of an AND", async () => {
      const lock = lockWith((p) => {
        p["node_modules/either"] = newPackage({ license: "(GPL-3.0-only OR MIT)" });
        p["node_modules/both"] = newPackage({ license: "(MIT AND GPL-3.0-only)" });
        p["node_modules/nested"] = newPackage({ license: "(MIT OR GPL-3.0-only) AND (ISC OR AGPL-3.0-only)" });
      });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "licenses");
      expect(findings).to.deep.equal(['both@1.0.0 has license "(MIT AND GPL-3.0-only)", which the allowlist does not allow']);
    });

    it("allows a license with an exception or an or-later only as written on the allowlist", async () => {
      const lock = lockWith((p) => {
        p["node_modules/classpath"] = newPackage({ license: "GPL-2.0-only WITH Classpath-exception-2.0" });
        p["node_modules/later"] = newPackage({ license: "GPL-2.0+" });
      });
      const bare = allowlistWith((a) => { a.licenses["GPL-2.0-only"] = "test"; a.licenses["GPL-2.0"] = "test"; });
      expect(findingsOf(await checkDependencies(lock, bare), "licenses")).to.have.length(2);
      const written = allowlistWith((a) => { a.licenses["GPL-2.0-only WITH Classpath-exception-2.0"] = "test"; a.licenses["GPL-2.0+"] = "test"; });
      expect(findingsOf(await checkDependencies(lock, written), "licenses")).to.deep.equal([]);
    });

    it("fails naming a package with no license or one that is not an SPDX expression", async () => {
      const lock = lockWith((p) => {
        p["node_modules/unlicensed"] = newPackage({ license: undefined });
        p["node_modules/see-file"] = newPackage({ license: "SEE LICENSE IN LICENSE.md" });
      });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "licenses");
      expect(findings).to.deep.equal([
        "unlicensed@1.0.0 declares no license",
        'see-file@1.0.0 has license "SEE LICENSE IN LICENSE.md", which is not an SPDX expression',
      ]);
    });
  });

  describe("lockfile", () => {
    it("fails naming a package with no integrity hash; a bundled one needs none", async () => {
      const lock = lockWith((p) => {
        delete p["node_modules/yaml"]!.integrity;
        p["node_modules/yaml/node_modules/bundled"] = newPackage({ integrity: undefined, inBundle: true });
      });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "lockfile");
      expect(findings).to.have.length(1);
      expect(findings[0]).to.match(/^yaml@\S+ has no integrity hash$/);
    });

    it("fails naming a package whose integrity hash is not sha512 (lockfile-lint)", async () => {
      const lock = lockWith((p) => { p["node_modules/yaml"]!.integrity = "sha1-" + "A".repeat(27) + "="; });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "lockfile");
      expect(findings).to.have.length(1);
      expect(findings[0]).to.match(/invalid integrity hash type for package: yaml@.*expected: sha512/);
    });

    it("fails naming a package resolved over http, from another host or from git (lockfile-lint)", async () => {
      const lock = lockWith((p) => {
        p["node_modules/yaml"]!.resolved = "http://registry.npmjs.org/yaml/-/yaml-2.9.1.tgz";
        p["node_modules/pino"]!.resolved = "https://registry.example.test/pino/-/pino-10.4.0.tgz";
        p["node_modules/jose"]!.resolved = "git+ssh://git@github.com/panva/jose.git#0123456789abcdef";
      });
      const findings = findingsOf(await checkDependencies(lock, repoAllowlist), "lockfile");
      expect(findings.some((f) => /invalid protocol for package: yaml@.*actual: http:/.test(f)), findings.join("\n")).to.equal(true);
      expect(findings.some((f) => /invalid host\(s\) for package: pino@.*actual: registry\.example\.test/.test(f)), findings.join("\n")).to.equal(true);
      expect(findings.some((f) => /invalid protocol for package: jose@.*actual: git\+ssh:/.test(f)), findings.join("\n")).to.equal(true);
    });

    it("passes https URLs from the one registry and counts them", async () => {
      const lock = lockWith((p) => {
        const yaml = p["node_modules/yaml"]!;
        yaml.resolved = `https://registry.npmjs.org/yaml/-/yaml-${String(yaml.version)}.tgz`;
      });
      const checks = await checkDependencies(lock, repoAllowlist);
      expect(allFindings(checks)).to.deep.equal([]);
      expect(checks.find((check) => check.name === "lockfile")!.passed).to.contain("1 resolved URLs, all https on registry.npmjs.org");
    });
  });

  describe("files it cannot use", () => {
    it("refuses a lock that is not JSON or not lockfileVersion 2/3, naming the file", async () => {
      const notJson = path.join(dir, "not-json.json");
      writeFileSync(notJson, "{");
      await expectRejection(checkDependencies(notJson, repoAllowlist), `${notJson}: cannot read the lockfile`);
      const v1 = path.join(dir, "v1.json");
      writeFileSync(v1, JSON.stringify({ lockfileVersion: 1, dependencies: {} }));
      await expectRejection(checkDependencies(v1, repoAllowlist), `${v1}: not a package-lock.json with lockfileVersion 2 or 3`);
      const noPackages = path.join(dir, "no-packages.json");
      writeFileSync(noPackages, JSON.stringify({ lockfileVersion: 3 }));
      await expectRejection(checkDependencies(noPackages, repoAllowlist), `${noPackages}: the lockfile has no "packages" map`);
    });

    it("refuses an allowlist entry without a reason or a list in place of name -> reason", async () => {
      const noReason = allowlistWith((a) => { a.installScripts["esbuild"] = " "; });
      await expectRejection(checkDependencies(repoLock, noReason), `"installScripts" entry "esbuild" needs a reason`);
      const list = allowlistWith((a) => { (a as { licenses: unknown }).licenses = ["MIT"]; });
      await expectRejection(checkDependencies(repoLock, list), `"licenses" must be an object of name -> reason`);
      await expectRejection(checkDependencies(repoLock, path.join(dir, "absent.json")), "cannot read the allowlist");
    });
  });
});

async function expectRejection(promise: Promise<unknown>, message: string): Promise<void> {
  const error = await promise.then(() => undefined, (err: unknown) => err);
  expect(error).to.be.instanceOf(Error);
  expect((error as Error).message).to.contain(message);
}
