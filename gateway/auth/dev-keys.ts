import { randomUUID } from "node:crypto";
import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import { devAlgorithm, jwksFileName, signingKeyFileName } from "./dev-identity.js";

export interface DevKeys {
  /** Key id: the RFC 7638 thumbprint of the public key, so it never changes for a key. */
  readonly kid: string;
  /** The private JWK, with kid, alg and use. */
  readonly signingKey: JWK;
  readonly signingKeyFile: string;
  readonly jwksFile: string;
  /** True when this call generated the key; false when it was already there. */
  readonly created: boolean;
}

/**
 * Makes sure `dir` holds a dev ES256 signing key (`signing-key.jwk.json`, mode
 * 0600) and its public JWKS (`jwks.json`), and returns them. Idempotent: an
 * existing key is kept, so tokens already handed out stay valid; a missing or
 * stale jwks.json is rewritten from the key. Safe when several processes start
 * at once (`make run` and `make token`): the key file appears atomically and
 * the first writer wins.
 */
export async function ensureDevKeys(dir: string): Promise<DevKeys> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const signingKeyFile = path.join(dir, signingKeyFileName);
  const jwksFile = path.join(dir, jwksFileName);

  let created = false;
  let signingKey = await readJwk(signingKeyFile);
  if (signingKey === undefined) {
    created = await publishOnce(signingKeyFile, JSON.stringify(await newSigningKey(), null, 2) + "\n");
    signingKey = await readJwk(signingKeyFile);
    if (signingKey === undefined) {
      throw new Error(`${signingKeyFile} vanished while it was being created`);
    }
  }
  const kid = signingKey.kid;
  if (typeof kid !== "string" || signingKey.d === undefined) {
    throw new Error(`${signingKeyFile} is not a private signing key with a kid`);
  }

  const jwks = JSON.stringify({ keys: [publicPart(signingKey)] }, null, 2) + "\n";
  if ((await readFile(jwksFile, "utf8").catch(() => undefined)) !== jwks) {
    await replaceAtomically(jwksFile, jwks, 0o644);
  }
  return { kid, signingKey, signingKeyFile, jwksFile, created };
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(devAlgorithm, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: devAlgorithm, use: "sig" };
}

/** The public members of an EC JWK, plus the metadata a verifier selects keys by. */
function publicPart(key: JWK): JWK {
  const { kty, crv, x, y, kid, alg, use } = key;
  return { kty, crv, x, y, kid, alg, use };
}

async function readJwk(file: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw err;
  }
  return JSON.parse(text) as JWK;
}

/**
 * Writes `file` only if it does not exist yet, never exposing a half-written
 * file: the content goes to a private temporary file, which link(2) then
 * publishes (failing with EEXIST when another process got there first).
 * Returns whether this call published it.
 */
async function publishOnce(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await writeFile(tmp, content, { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      return false;
    }
    throw err;
  } finally {
    await unlink(tmp);
  }
}

async function replaceAtomically(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await writeFile(tmp, content, { mode, flag: "wx" });
  await rename(tmp, file);
}
