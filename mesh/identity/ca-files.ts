import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { replaceFile } from "./credential-files.js";
import { MeshCa } from "./mesh-ca.js";

const files = {
  rootCertPem: "root.crt",
  rootKeyPem: "root.key",
  intermediateCertPem: "intermediate.crt",
  intermediateKeyPem: "intermediate.key",
  trustDomain: "trust-domain",
} as const;

/**
 * The mesh CA kept in `dir` (make run's .data/ca): loaded if it is there,
 * made and saved otherwise. The directory is 0700 and the keys 0600; they are
 * never logged, and .data/ is git-ignored. A CA made for another trust domain
 * is refused rather than silently replaced (every identity issued by it
 * would stop being trusted).
 */
export async function openCaDir(dir: string, trustDomain: string): Promise<MeshCa> {
  const at = (name: string): string => path.join(dir, name);
  if (existsSync(at(files.intermediateKeyPem))) {
    const saved = readFileSync(at(files.trustDomain), "utf8").trim();
    if (saved !== trustDomain) {
      throw new Error(`the CA in ${dir} is for trust domain ${saved}, not ${trustDomain}: remove ${dir} to make a new one`);
    }
    return MeshCa.fromPem(trustDomain, {
      rootCertPem: readFileSync(at(files.rootCertPem), "utf8"),
      rootKeyPem: readFileSync(at(files.rootKeyPem), "utf8"),
      intermediateCertPem: readFileSync(at(files.intermediateCertPem), "utf8"),
      intermediateKeyPem: readFileSync(at(files.intermediateKeyPem), "utf8"),
    });
  }
  const ca = await MeshCa.create(trustDomain);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const pem = ca.toPem();
  replaceFile(at(files.rootKeyPem), pem.rootKeyPem, 0o600);
  replaceFile(at(files.intermediateKeyPem), pem.intermediateKeyPem, 0o600);
  replaceFile(at(files.rootCertPem), pem.rootCertPem, 0o644);
  replaceFile(at(files.intermediateCertPem), pem.intermediateCertPem, 0o644);
  replaceFile(at(files.trustDomain), `${trustDomain}\n`, 0o644);
  return ca;
}
