import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Where a workload's credentials are: its certificate chain, its private key
 * and the trust bundle, as three PEM files. The default names are
 * cert-manager's (its CSI driver and its Secrets: tls.crt, tls.key, ca.crt),
 * so a Kubernetes volume mounts as MESH_TLS_DIR as it is.
 */
export interface CredentialFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export const certFileName = "tls.crt";
export const keyFileName = "tls.key";
export const caFileName = "ca.crt";

/** The three files in `dir`, by their default names. */
export function credentialFilesIn(dir: string): CredentialFiles {
  return {
    certFile: path.join(dir, certFileName),
    keyFile: path.join(dir, keyFileName),
    caFile: path.join(dir, caFileName),
  };
}

export interface CredentialsToWrite {
  readonly certPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
}

/**
 * Writes a workload's credentials into `dir` (made 0700 if missing), each file
 * replaced atomically by a rename, the key 0600, the key before the
 * certificate: a reader sees either file old or new, never half of one, and a
 * reader that sees a certificate without its key keeps what it had until the
 * key follows (WorkloadCredentials checks that they match).
 */
export function writeCredentialFiles(dir: string, credentials: CredentialsToWrite): CredentialFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files = credentialFilesIn(dir);
  replaceFile(files.caFile, credentials.bundlePem, 0o644);
  replaceFile(files.keyFile, credentials.keyPem, 0o600);
  replaceFile(files.certFile, credentials.certPem, 0o644);
  return files;
}

/** Writes `text` to `file` through a temporary file in the same directory and a rename. */
export function replaceFile(file: string, text: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}
