import { mkdtemp, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { devAudience, devIssuer } from "./dev-identity.js";
import { ensureDevKeys } from "./dev-keys.js";
import { signDevToken } from "./dev-token.js";
import { createTokenVerifier } from "./token-verifier.js";

describe("dev keys", () => {
  let dir: string;

  beforeEach(async () => {
    dir = path.join(await mkdtemp(path.join(tmpdir(), "dev-keys-")), "auth");
  });

  afterEach(async () => {
    await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it("creates a private key readable by its owner only and a public JWKS", async () => {
    const keys = await ensureDevKeys(dir);

    expect(keys.created).to.equal(true);
    expect((await stat(keys.signingKeyFile)).mode & 0o777).to.equal(0o600);
    const jwks = JSON.parse(await readFile(keys.jwksFile, "utf8")) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).to.have.length(1);
    expect(jwks.keys[0]).to.include({ kty: "EC", crv: "P-256", kid: keys.kid, alg: "ES256", use: "sig" });
    expect(jwks.keys[0]).not.to.have.property("d");
  });

  it("keeps the existing key on a second run", async () => {
    const first = await ensureDevKeys(dir);
    const jwks = await readFile(first.jwksFile, "utf8");
    const second = await ensureDevKeys(dir);

    expect(second.created).to.equal(false);
    expect(second.kid).to.equal(first.kid);
    expect(await readFile(second.jwksFile, "utf8")).to.equal(jwks);
  });

  it("agrees on one key when several processes start at once", async () => {
    const runs = await Promise.all(Array.from({ length: 5 }, () => ensureDevKeys(dir)));

    expect(new Set(runs.map((r) => r.kid)).size).to.equal(1);
    expect(runs.filter((r) => r.created)).to.have.length(1);
  });

  it("rewrites a missing or stale JWKS from the kept key", async () => {
    const { kid, jwksFile } = await ensureDevKeys(dir);
    await unlink(jwksFile);
    expect((await ensureDevKeys(dir)).kid).to.equal(kid);
    await writeFile(jwksFile, JSON.stringify({ keys: [] }));
    expect((await ensureDevKeys(dir)).kid).to.equal(kid);

    const jwks = JSON.parse(await readFile(jwksFile, "utf8")) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).to.deep.equal([kid]);
  });

  it("signs tokens the verifier accepts with the dev issuer and audience", async () => {
    const token = await signDevToken(dir, { subject: "alice", scopes: ["meshwork:admin"] });
    const { jwksFile } = await ensureDevKeys(dir);
    const verifier = await createTokenVerifier({ jwks: { file: jwksFile }, issuer: devIssuer, audience: devAudience });

    const principal = await verifier.verify(`Bearer ${token}`);
    expect(principal?.subject).to.equal("alice");
    expect([...(principal?.scopes ?? [])]).to.deep.equal(["meshwork:admin"]);
  });

  it("refuses an empty subject or a non-positive ttl", async () => {
    for (const [options, pattern] of [
      [{ subject: "" }, /non-empty subject/],
      [{ subject: "alice", ttlSec: 0 }, /ttl must be/],
      [{ subject: "alice", ttlSec: 1.5 }, /ttl must be/],
    ] as const) {
      const outcome = await signDevToken(dir, options).then(
        () => new Error(`signed ${JSON.stringify(options)}`),
        (err: unknown) => err as Error,
      );
      expect(outcome.message).to.match(pattern);
    }
  });
});
