import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { devAudience, devIssuer, jwksFileName } from "../gateway/auth/dev-identity.js";
import { createTokenVerifier } from "../gateway/auth/token-verifier.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..");

/** Runs a script as `make token` / `make run` would: its own process, tsx loader. */
function script(name: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return run(process.execPath, ["--import", "tsx", path.join(root, "scripts", name), ...args], { cwd: root, env });
}

describe("scripts/dev-keys.ts and scripts/token.ts", function () {
  this.timeout(30000);
  let base: string;
  let dir: string;

  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), "token-script-"));
    dir = path.join(base, "auth");
  });

  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("dev-keys creates the key once and keeps it on a second run", async () => {
    const first = await script("dev-keys.ts", ["--dir", dir]);
    const second = await script("dev-keys.ts", ["--dir", dir]);

    const kid = /^created signing key (\S+)$/m.exec(first.stdout)?.[1];
    expect(kid).to.be.a("string");
    expect(second.stdout.split("\n")).to.include(`kept signing key ${kid}`);
  });

  it("token prints only a token the verifier accepts", async () => {
    const { stdout } = await script("token.ts", ["--sub", "alice", "--scope", "meshwork:admin", "--ttl", "120", "--dir", dir]);
    const verifier = await createTokenVerifier({ jwks: { file: path.join(dir, jwksFileName) }, issuer: devIssuer, audience: devAudience });

    expect(stdout.trim().split("\n")).to.have.length(1);
    const principal = await verifier.verify(`Bearer ${stdout.trim()}`);
    expect(principal?.subject).to.equal("alice");
    expect(principal?.scopes.has("meshwork:admin")).to.equal(true);
  });

  it("token creates the keys under $MESH_DATA_DIR/auth when they are absent", async () => {
    const dataDir = path.join(base, "data");
    const { stdout } = await script("token.ts", ["--sub", "bob"], { ...process.env, MESH_DATA_DIR: dataDir });
    const verifier = await createTokenVerifier({ jwks: { file: path.join(dataDir, "auth", jwksFileName) }, issuer: devIssuer, audience: devAudience });

    expect((await verifier.verify(`Bearer ${stdout.trim()}`))?.subject).to.equal("bob");
  });

  it("token refuses to run without --sub", async () => {
    try {
      await script("token.ts", ["--dir", dir]);
      expect.fail("token.ts ran without --sub");
    } catch (err) {
      expect((err as { code?: number }).code).to.equal(2);
      expect((err as { stderr?: string }).stderr).to.contain("--sub is required");
    }
  });
});
