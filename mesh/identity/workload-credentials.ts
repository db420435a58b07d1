import { createPrivateKey, X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import path from "node:path";
import tls from "node:tls";
import type { CredentialFiles } from "./credential-files.js";
import { parseWorkloadId, uriSans, type WorkloadId } from "./spiffe-id.js";

/** A workload's credentials as loaded and checked, with the TLS material made from them. */
export interface LoadedCredentials {
  /** Whose they are: the SPIFFE id in the certificate. */
  readonly id: WorkloadId;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the leaf certificate: tells one issue from the next. */
  readonly fingerprint: string;
  /** For clients: TLS 1.3, this certificate and key, peers verified against the bundle. */
  readonly secureContext: tls.SecureContext;
}

/** The TLS options a server or client is built from; TLS 1.3 only. */
export function tlsOptionsOf(credentials: LoadedCredentials): tls.SecureContextOptions {
  return {
    cert: credentials.certPem,
    key: credentials.keyPem,
    ca: credentials.caPem,
    minVersion: "TLSv1.3",
  };
}

/**
 * Reads and checks the three files: the certificate carries one mesh SPIFFE
 * id, the key is the certificate's, and the chain leads to the bundle.
 * Throws with a message naming the file and what is wrong. An expired
 * certificate still loads (the process reports it on /readyz, and its peers
 * refuse it); one not valid yet does too (clock skew is the issuer's concern).
 */
export function loadCredentials(files: CredentialFiles): LoadedCredentials {
  const certPem = readPem(files.certFile, "certificate");
  const keyPem = readPem(files.keyFile, "private key");
  const caPem = readPem(files.caFile, "trust bundle");
  const chain = splitPem(certPem).map((pem) => parseCertificate(pem, files.certFile));
  const leaf = chain[0];
  if (leaf === undefined) {
    throw new Error(`${files.certFile}: no certificate in it`);
  }
  const bundle = splitPem(caPem).map((pem) => parseCertificate(pem, files.caFile));
  if (bundle.length === 0) {
    throw new Error(`${files.caFile}: no certificate in it`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`${files.keyFile}: not a private key (${(err as Error).message})`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new Error(`${files.keyFile} is not the key of the certificate in ${files.certFile}`);
  }
  const sans = uriSans(leaf.subjectAltName);
  const id = sans.length === 1 ? parseWorkloadId(sans[0]!) : undefined;
  if (id === undefined) {
    throw new Error(`${files.certFile}: expected one URI SAN spiffe://<trust domain>/(service|operator)/<name>, found ${sans.join(", ") || "none"}`);
  }
  if (!chainsTo(chain, bundle)) {
    throw new Error(`${files.certFile} does not chain to a certificate of the trust bundle ${files.caFile}`);
  }
  const loaded = {
    id,
    certPem,
    keyPem,
    caPem,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: leaf.fingerprint256,
  };
  return { ...loaded, secureContext: tls.createSecureContext(tlsOptionsOf(loaded as LoadedCredentials)) };
}

export interface WorkloadCredentialsOptions {
  /**
   * How often the files are read again besides file-change events (which a
   * network or overlay file system may not deliver). Default: 10 s.
   */
  readonly pollIntervalMs?: number;
  /** Told about a change that could not be loaded (the previous credentials stay). */
  readonly onError?: (err: Error) => void;
}

/**
 * A workload's credentials, read from files and read again when they change,
 * as cert-manager's CSI driver and SPIRE's helper expect: whoever renews
 * writes new files (make run's supervisor, a Kubernetes volume), and the
 * process picks them up without a restart. A change that does not load (a
 * half-written pair, a key that does not match) is reported and skipped: the
 * credentials in use stay until a complete new set is there.
 *
 * Emits "change" with the new LoadedCredentials. Servers swap their secure
 * context on it; clients use it for new connections.
 */
export class WorkloadCredentials extends EventEmitter<{ change: [LoadedCredentials] }> {
  private loaded: LoadedCredentials;
  private readonly watcher: FSWatcher | undefined;
  private readonly timer: NodeJS.Timeout;
  private lastError: string | undefined;

  /** Loads the files now (throws if they do not load) and watches them. */
  constructor(
    readonly files: CredentialFiles,
    private readonly options: WorkloadCredentialsOptions = {},
  ) {
    super();
    this.loaded = loadCredentials(files);
    const dirs = new Set([files.certFile, files.keyFile, files.caFile].map((f) => path.dirname(f)));
    // One directory (the usual case) is watched; Kubernetes swaps a volume's
    // files by renaming a symlink in it, which a directory watch sees.
    this.watcher = dirs.size === 1 ? tryWatch([...dirs][0]!, () => this.reload()) : undefined;
    this.timer = setInterval(() => this.reload(), options.pollIntervalMs ?? 10_000);
    this.timer.unref();
  }

  get current(): LoadedCredentials {
    return this.loaded;
  }

  /** Reads the files again now; emits "change" if they hold a new, complete set. */
  reload(): void {
    let next: LoadedCredentials;
    try {
      next = loadCredentials(this.files);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastError) {
        this.lastError = message;
        this.options.onError?.(err as Error);
      }
      return;
    }
    this.lastError = undefined;
    if (next.fingerprint === this.loaded.fingerprint && next.caPem === this.loaded.caPem) {
      return;
    }
    this.loaded = next;
    this.emit("change", next);
  }

  close(): void {
    this.watcher?.close();
    clearInterval(this.timer);
  }
}

function tryWatch(dir: string, onChange: () => void): FSWatcher | undefined {
  try {
    const watcher = watch(dir, { persistent: false }, () => onChange());
    watcher.on("error", () => watcher.close());
    return watcher;
  } catch {
    return undefined;
  }
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function parseCertificate(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new Error(`${file}: not a certificate (${(err as Error).message})`, { cause: err });
  }
}

/** Whether each certificate of `chain` is signed by the next, and the last by one of `bundle`. */
function chainsTo(chain: readonly X509Certificate[], bundle: readonly X509Certificate[]): boolean {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!signedBy(chain[i]!, chain[i + 1]!)) {
      return false;
    }
  }
  const last = chain[chain.length - 1]!;
  return bundle.some((root) => root.fingerprint256 === last.fingerprint256 || signedBy(last, root));
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
