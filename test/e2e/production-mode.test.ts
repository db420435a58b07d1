import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { freePort } from "../support/free-port.js";
import { startService } from "../support/service-process.js";

/**
 * MESH_ENV=production (mesh/process/production-mode.ts): the mains, started
 * as real processes, refuse every development fallback at start, naming each
 * in one error; a fully configured process starts.
 */
describe("production mode (MESH_ENV=production)", function () {
  this.timeout(180_000);
  let dataDir: string;
  before(() => (dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-production-"))));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  /** The error a process stopped with before serving (its stderr), or a failure if it served. */
  async function refusal(name: string, env: Record<string, string>): Promise<string> {
    const failure = await startService(name, { DATA_DIR: path.join(dataDir, name), MESH_ENV: "production", ...env }).then(
      async (p) => {
        await p.stop();
        return undefined;
      },
      (err: unknown) => err as Error,
    );
    expect(failure, `${name} refused to start`).to.be.instanceOf(Error);
    expect(failure!.message).to.contain(`${name} exited with 1 before serving`);
    return failure!.message;
  }

  /** The bullet lines of a ProductionModeError, `  - VARIABLE: what it falls back to`, by variable. */
  function named(message: string): string[] {
    return [...message.matchAll(/^ {2}- (\S+): /gm)].map((m) => m[1]!);
  }

  it("refuses a MESH_ENV other than development or production, naming it", async () => {
    const message = await refusal("inventory", { MESH_ENV: "staging" });
    expect(message).to.contain("MESH_ENV=staging: expected one of development, production");
  });

  it("gateway: refuses the generated signing key, the dev issuer and audience, mTLS off and fault injection, naming each in one error", async () => {
    const message = await refusal("gateway", {
      AUTH_JWKS_URL: "",
      AUTH_JWKS_FILE: "",
      AUTH_ISSUER: "",
      AUTH_AUDIENCE: "",
      MESH_INSECURE: "1",
      MESH_FAULTS: "{}",
    });
    expect(message).to.contain("MESH_ENV=production refuses to start with these 5 development fallbacks");
    expect(named(message)).to.deep.equal(["MESH_INSECURE=1", "MESH_FAULTS", "AUTH_JWKS_URL/AUTH_JWKS_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE"]);
    // Refused before anything was made: no development signing key on disk.
    expect(existsSync(path.join(dataDir, "gateway", "auth")), "a development key directory").to.equal(false);
  });

  it("gateway: refuses a JWKS URL over cleartext http to another host, and the dev issuer set explicitly", async () => {
    const message = await refusal("gateway", {
      AUTH_JWKS_URL: "http://198.18.0.10/.well-known/jwks.json",
      AUTH_ISSUER: "http://localhost:8080",
      AUTH_AUDIENCE: "meshwork-shop",
    });
    expect(named(message)).to.deep.equal(["AUTH_ISSUER", "AUTH_JWKS_URL"]);
    expect(message).to.contain("AUTH_JWKS_URL: http://198.18.0.10/.well-known/jwks.json: signing keys over cleartext http from another host");
  });

  it("payments: refuses the simulated card processor, chosen or fallen back to", async () => {
    for (const processor of ["", "simulated"]) {
      const message = await refusal("payments", { PAYMENT_PROCESSOR: processor });
      expect(named(message), processor || "unset").to.deep.equal(["PAYMENT_PROCESSOR"]);
      expect(message).to.contain(`PAYMENT_PROCESSOR: ${processor || "unset"}: the simulated card processor`);
    }
  });

  it("orders: refuses its armed test hooks, naming both", async () => {
    const message = await refusal("orders", { SAGA_TEST_CRASH_AT: "after-reserve", OUTBOX_TEST_CRASH: "before-publish" });
    expect(named(message)).to.deep.equal(["OUTBOX_TEST_CRASH", "SAGA_TEST_CRASH_AT"]);
  });

  it("notifications: refuses its armed test hook", async () => {
    const message = await refusal("notifications", { NOTIFICATIONS_TEST_FAIL_CUSTOMER: "alice" });
    expect(named(message)).to.deep.equal(["NOTIFICATIONS_TEST_FAIL_CUSTOMER"]);
  });

  it("inventory: refuses mTLS off", async () => {
    const message = await refusal("inventory", { MESH_INSECURE: "1" });
    expect(named(message)).to.deep.equal(["MESH_INSECURE=1"]);
  });

  it("inventory: starts when it has no fallback (mTLS with its certificate)", async () => {
    const inventory = await startService("inventory", { DATA_DIR: path.join(dataDir, "inventory-ok"), MESH_ENV: "production" });
    try {
      expect(inventory.url).to.match(/^https:/);
      expect((await fetch(`${inventory.probeUrl}/healthz`)).status).to.equal(200);
    } finally {
      await inventory.stop();
    }
  });

  describe("a fully configured gateway", () => {
    const issuer = "https://198.18.0.10/";
    const audience = "meshwork-shop";
    let privateKey: CryptoKey;
    let gatewayDir: string;
    let gateway: Awaited<ReturnType<typeof startService>>;

    before(async () => {
      gatewayDir = path.join(dataDir, "gateway-ok");
      const pair = await generateKeyPair("ES256");
      privateKey = pair.privateKey;
      const jwksFile = path.join(dataDir, "issuer-jwks.json");
      writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "issuer-1", alg: "ES256", use: "sig" }] }));
      // Orders on a port nobody listens on: the call after the token check fails upstream, not at the edge.
      gateway = await startService("gateway", {
        DATA_DIR: gatewayDir,
        MESH_ENV: "production",
        AUTH_JWKS_URL: "",
        AUTH_JWKS_FILE: jwksFile,
        AUTH_ISSUER: issuer,
        AUTH_AUDIENCE: audience,
        ORDERS_URL: `https://127.0.0.1:${await freePort()}`,
      });
    });
    after(() => gateway?.stop());

    const token = (iss: string): Promise<string> =>
      new SignJWT({ scope: "" })
        .setProtectedHeader({ alg: "ES256", kid: "issuer-1", typ: "JWT" })
        .setIssuer(iss)
        .setAudience(audience)
        .setSubject("alice")
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(privateKey);

    it("starts, with mTLS and no development signing key", async () => {
      expect((await fetch(`${gateway.url}/healthz`)).status).to.equal(200);
      expect(existsSync(path.join(gatewayDir, "auth")), "a development key directory").to.equal(false);
    });

    it("verifies tokens with the configured issuer, audience and keys, not the development ones", async () => {
      const call = async (bearer: string): Promise<number> =>
        (await fetch(`${gateway.url}/v1/orders`, { headers: { authorization: `Bearer ${bearer}` } })).status;
      expect(await call(await token(issuer)), "the configured issuer's token gets past the edge").not.to.equal(401);
      expect(await call(await token("http://localhost:8080")), "a token of the development issuer").to.equal(401);
    });
  });
});
