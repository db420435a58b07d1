import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from "./token-verifier.js";

const issuer = "https://issuer.test";
const audience = "meshwork";
const kid = "test-key";

interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = (): number => Math.floor(Date.now() / 1000);

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error("expected a refusal");
}

/** The message createTokenVerifier fails with, or "accepted" when it does not fail. */
function startupError(options: TokenVerifierOptions): Promise<string> {
  return createTokenVerifier(options).then(
    () => "accepted",
    (err: unknown) => (err as Error).message,
  );
}

describe("createTokenVerifier", () => {
  let dir: string;
  let keys: KeyPair;
  let publicJwk: JWK;
  let jwksFile: string;
  let verifier: TokenVerifier;

  function sign(claims: JWTPayload, build: (jwt: SignJWT) => SignJWT = (jwt) => jwt, key = keys.privateKey, keyId = kid): Promise<string> {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: keyId, typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject("alice")
      .setIssuedAt()
      .setExpirationTime("10m");
    return build(jwt).sign(key);
  }

  async function expectRejected(token: string, message: string): Promise<void> {
    const err = await refusal(verifier.verify(`Bearer ${token}`));
    expect(err.code).to.equal(Code.Unauthenticated);
    expect(err.rawMessage).to.equal(message);
    expect(err.message).not.to.contain(token);
    for (const part of token.split(".").filter((p) => p.length > 8)) {
      expect(err.message).not.to.contain(part);
    }
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "token-verifier-"));
    keys = await generateKeyPair("ES256", { extractable: true });
    publicJwk = { ...(await exportJWK(keys.publicKey)), kid, alg: "ES256", use: "sig" };
    jwksFile = path.join(dir, "jwks.json");
    await writeFile(jwksFile, JSON.stringify({ keys: [publicJwk] }));
    verifier = await createTokenVerifier({ jwks: { file: jwksFile }, issuer, audience });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts a valid token and returns its subject and scopes", async () => {
    const principal = await verifier.verify(`Bearer ${await sign({ scope: "meshwork:admin  orders:read" })}`);

    expect(principal?.subject).to.equal("alice");
    expect([...(principal?.scopes ?? [])]).to.deep.equal(["meshwork:admin", "orders:read"]);
  });

  it("gives a token without a scope claim no scopes", async () => {
    const principal = await verifier.verify(`Bearer ${await sign({})}`);

    expect(principal?.scopes.size).to.equal(0);
  });

  it("accepts the scheme in any case", async () => {
    const principal = await verifier.verify(`bearer ${await sign({})}`);

    expect(principal?.subject).to.equal("alice");
  });

  it("treats a missing header as anonymous", async () => {
    expect(await verifier.verify(undefined)).to.equal(undefined);
  });

  it("refuses malformed Authorization headers", async () => {
    const token = await sign({});
    for (const header of ["", "Basic x", "Basic YWxpY2U6cHc=", "Bearer", "Bearer ", `Bearer  ${token}`, `Bearer ${token} `, ` Bearer ${token}`, `Bearer ${token} x`, `Token ${token}`, `Bearer ${"a".repeat(9000)}`]) {
      const err = await refusal(verifier.verify(header));
      expect(err.code, JSON.stringify(header.slice(0, 20))).to.equal(Code.Unauthenticated);
      expect(err.message).not.to.contain(token);
    }
  });

  it("refuses a token that is not a JWT", async () => {
    await expectRejected("not-a-jwt", "bearer token malformed");
    await expectRejected("a.b.c", "bearer token malformed");
  });

  it("refuses an expired token", async () => {
    const token = await sign({}, (jwt) => jwt.setIssuedAt(now() - 3600).setExpirationTime(now() - 60));

    await expectRejected(token, "bearer token expired");
  });

  it("tolerates a few seconds of clock skew on exp", async () => {
    const token = await sign({}, (jwt) => jwt.setExpirationTime(now() - 2));

    expect((await verifier.verify(`Bearer ${token}`))?.subject).to.equal("alice");
  });

  it("refuses a token that is not yet valid", async () => {
    const token = await sign({}, (jwt) => jwt.setNotBefore(now() + 600));

    await expectRejected(token, "bearer token not yet valid");
  });

  it("refuses a token for another audience", async () => {
    await expectRejected(await sign({}, (jwt) => jwt.setAudience("someone-else")), "bearer token audience not accepted");
  });

  it("refuses a token from another issuer", async () => {
    await expectRejected(await sign({}, (jwt) => jwt.setIssuer("https://evil.test")), "bearer token issuer not accepted");
  });

  it("refuses a token without sub or exp", async () => {
    const noSubject = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime("10m")
      .sign(keys.privateKey);
    const noExpiry = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject("alice")
      .sign(keys.privateKey);

    await expectRejected(noSubject, 'bearer token has no "sub" claim');
    await expectRejected(noExpiry, 'bearer token has no "exp" claim');
    await expectRejected(await sign({}, (jwt) => jwt.setSubject("")), "bearer token has an empty subject");
  });

  it("refuses a scope claim that is not a string", async () => {
    await expectRejected(await sign({ scope: ["meshwork:admin"] }), "bearer token scope claim must be a space-separated string");
  });

  it("refuses an unsigned alg:none token", async () => {
    const claims = { sub: "alice", iss: issuer, aud: audience, exp: now() + 600, iat: now() };
    for (const header of [{ alg: "none" }, { alg: "none", typ: "JWT", kid }, { alg: "None" }]) {
      await expectRejected(`${b64(header)}.${b64(claims)}.`, "bearer token algorithm not allowed");
    }
  });

  it("refuses HS256 tokens, whether keyed with the public key's bytes or a shared secret", async () => {
    const pem = new TextEncoder().encode(await exportSPKI(keys.publicKey));
    const jwkBytes = new TextEncoder().encode(JSON.stringify(publicJwk));
    const secret = new TextEncoder().encode("a-symmetric-secret-of-at-least-32-bytes!");
    for (const key of [pem, jwkBytes, secret]) {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256", kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject("alice")
        .setExpirationTime("10m")
        .sign(key);
      await expectRejected(token, "bearer token algorithm not allowed");
    }
  });

  it("refuses a token whose payload was changed after signing", async () => {
    const [header, payload, signature] = (await sign({})).split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as JWTPayload;
    const tampered = `${header}.${b64({ ...claims, sub: "mallory" })}.${signature}`;

    await expectRejected(tampered, "bearer token signature invalid");
  });

  it("refuses a token signed by another key", async () => {
    const other = await generateKeyPair("ES256");

    await expectRejected(await sign({}, undefined, other.privateKey), "bearer token signature invalid");
    await expectRejected(await sign({}, undefined, other.privateKey, "other-key"), "bearer token signed by an unknown key");
  });

  it("refuses an unsupported critical header", async () => {
    // jose will not sign an unknown crit header, so sign by hand (JWS ES256 is raw r||s, as WebCrypto gives it).
    const claims = { sub: "alice", iss: issuer, aud: audience, exp: now() + 600 };
    const input = `${b64({ alg: "ES256", kid, crit: ["x-evil"], "x-evil": 1 })}.${b64(claims)}`;
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, new TextEncoder().encode(input));
    const token = `${input}.${Buffer.from(signature).toString("base64url")}`;

    await expectRejected(token, "bearer token uses an unsupported header or algorithm");
  });

  describe("options", () => {
    it("refuses symmetric, none or no algorithms at start", async () => {
      for (const [algorithms, pattern] of [
        [["HS256"], /"HS256" is not an asymmetric/],
        [["none"], /"none" is not an asymmetric/],
        [["ES256", "HS512"], /"HS512" is not an asymmetric/],
        [[], /at least one algorithm/],
      ] as const) {
        expect(await startupError({ jwks: { file: jwksFile }, issuer, audience, algorithms })).to.match(pattern);
      }
    });

    it("refuses a JWKS file that is missing, empty or holds a private key", async () => {
      const empty = path.join(dir, "empty.json");
      const secret = path.join(dir, "private.json");
      await writeFile(empty, JSON.stringify({ keys: [] }));
      await writeFile(secret, JSON.stringify({ keys: [await exportJWK(keys.privateKey)] }));
      for (const [file, pattern] of [
        [path.join(dir, "absent.json"), /cannot read JWKS file/],
        [empty, /at least one key/],
        [secret, /private or symmetric key material/],
      ] as const) {
        expect(await startupError({ jwks: { file }, issuer, audience })).to.match(pattern);
      }
    });

    it("honours a custom algorithm allowlist", async () => {
      const rsa = await generateKeyPair("RS256", { extractable: true });
      const file = path.join(dir, "rsa.json");
      await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(rsa.publicKey)), kid: "rsa" }] }));
      const rsaVerifier = await createTokenVerifier({ jwks: { file }, issuer, audience, algorithms: ["RS256"] });
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "RS256", kid: "rsa" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject("bob")
        .setExpirationTime("10m")
        .sign(rsa.privateKey);

      expect((await rsaVerifier.verify(`Bearer ${token}`))?.subject).to.equal("bob");
      const err = await refusal(rsaVerifier.verify(`Bearer ${await sign({})}`));
      expect(err.rawMessage).to.equal("bearer token algorithm not allowed");
    });
  });

  describe("with a JWKS URL", () => {
    let server: Server;
    let url: string;
    let fetches = 0;

    before(async () => {
      server = createServer((req, res) => {
        fetches++;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ keys: [publicJwk] }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("verifies against the fetched keys and caches them", async () => {
      const remote = await createTokenVerifier({ jwks: { url }, issuer, audience });

      expect((await remote.verify(`Bearer ${await sign({})}`))?.subject).to.equal("alice");
      expect((await remote.verify(`Bearer ${await sign({})}`))?.subject).to.equal("alice");
      expect(fetches).to.equal(1);
    });

    it("answers Unavailable, not Unauthenticated, when the key set cannot be fetched", async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const remote = await createTokenVerifier({ jwks: { url: `http://127.0.0.1:${port}/jwks.json` }, issuer, audience });

      const err = await refusal(remote.verify(`Bearer ${await sign({})}`));
      expect(err.code).to.equal(Code.Unavailable);
    });
  });
});
