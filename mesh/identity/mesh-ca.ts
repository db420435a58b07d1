// A certificate authority for the mesh's workload identities. node:crypto
// verifies X.509 but cannot sign it; @peculiar/x509 (WebCrypto underneath,
// maintained, ECDSA and URI SANs) does the signing. It needs reflect-metadata
// loaded before it, which the first import here does.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import type { WorkloadId } from "./spiffe-id.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** ECDSA P-256 with SHA-256 everywhere: small keys, fast handshakes, what SPIRE and Istio default to. */
const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Clock skew allowed between hosts: certificates are valid from a minute before they are made. */
const backdateMs = 60_000;

/** A certificate and its private key, PEM. */
export interface PemKeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * What a workload reads: its certificate chain (leaf first, then the
 * intermediate), its private key, and the trust bundle (the root) its peers
 * must chain to.
 */
export interface WorkloadCredentialsPem {
  /** Leaf, then intermediate: what the workload presents. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The root certificate(s) peers are verified against. */
  readonly bundlePem: string;
  readonly notAfter: Date;
}

export interface IssueOptions {
  /** How long the certificate is valid. Default: 1 h, as short as renewal at half-life allows comfortably. */
  readonly ttlMs?: number;
  /** When it starts being valid. Default: now minus one minute of clock skew (tests make expired ones with this). */
  readonly notBefore?: Date;
  /**
   * More DNS SANs beside <name>.<trust domain>: for a peer that verifies a
   * host name it dialled (a NATS cluster node's, which the other nodes'
   * routes check). Default: none.
   */
  readonly dnsNames?: readonly string[];
}

/** How long a workload certificate lives by default. */
export const defaultWorkloadTtlMs = 60 * 60 * 1000;

/**
 * A root and an intermediate, the intermediate signing workload certificates
 * (the root's key can then stay offline; here it stays in a 0600 file).
 */
export class MeshCa {
  private constructor(
    readonly trustDomain: string,
    private readonly root: x509.X509Certificate,
    private readonly intermediate: x509.X509Certificate,
    private readonly intermediateKey: CryptoKey,
    private readonly rootKeyPem: string,
    private readonly intermediateKeyPem: string,
  ) {}

  /** A new root (10 years) and intermediate (1 year) for `trustDomain`. */
  static async create(trustDomain: string): Promise<MeshCa> {
    const now = Date.now();
    const rootKeys = await generateKeys();
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=Meshwork root CA, O=${trustDomain}`,
      notBefore: new Date(now - backdateMs),
      notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
      keys: rootKeys,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    const intermediateKeys = await generateKeys();
    const intermediate = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=Meshwork intermediate CA, O=${trustDomain}`,
      issuer: root.subject,
      notBefore: new Date(now - backdateMs),
      notAfter: new Date(now + 365 * 24 * 3600_000),
      signingKey: rootKeys.privateKey,
      publicKey: intermediateKeys.publicKey,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    return new MeshCa(
      trustDomain,
      root,
      intermediate,
      intermediateKeys.privateKey,
      await privateKeyPem(rootKeys.privateKey),
      await privateKeyPem(intermediateKeys.privateKey),
    );
  }

  /** A CA saved with `toPem`. */
  static async fromPem(trustDomain: string, pem: MeshCaPem): Promise<MeshCa> {
    const intermediateKey = await importPrivateKey(pem.intermediateKeyPem);
    return new MeshCa(
      trustDomain,
      new x509.X509Certificate(pem.rootCertPem),
      new x509.X509Certificate(pem.intermediateCertPem),
      intermediateKey,
      pem.rootKeyPem,
      pem.intermediateKeyPem,
    );
  }

  /** Everything needed to load this CA again: keys included, so keep it 0600. */
  toPem(): MeshCaPem {
    return {
      rootCertPem: this.root.toString("pem"),
      rootKeyPem: this.rootKeyPem,
      intermediateCertPem: this.intermediate.toString("pem"),
      intermediateKeyPem: this.intermediateKeyPem,
    };
  }

  /** The trust bundle workloads verify their peers against: the root. */
  get bundlePem(): string {
    return `${this.root.toString("pem")}\n`;
  }

  /**
   * A new key and certificate for `id`: its SPIFFE id as the one URI SAN, no
   * subject, usable as client and server, signed by the intermediate. It also
   * carries the DNS SAN <name>.<trust domain> (e.g. payments.meshwork.local)
   * for clients that verify a host name rather than a SPIFFE id (buf curl
   * --servername, grpcio's ssl_target_name_override); mesh clients check the
   * SPIFFE id only.
   */
  async issue(id: WorkloadId, options: IssueOptions = {}): Promise<WorkloadCredentialsPem> {
    if (id.trustDomain !== this.trustDomain) {
      throw new Error(`${id.uri} is not in this CA's trust domain ${this.trustDomain}`);
    }
    const notBefore = options.notBefore ?? new Date(Date.now() - backdateMs);
    const notAfter = new Date(notBefore.getTime() + backdateMs + (options.ttlMs ?? defaultWorkloadTtlMs));
    const keys = await generateKeys();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: "",
      issuer: this.intermediate.subject,
      notBefore,
      notAfter,
      signingKey: this.intermediateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension(
          [
            { type: "url", value: id.uri },
            { type: "dns", value: dnsName(id) },
            ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
          ],
          true,
        ),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.intermediate.publicKey),
      ],
    });
    return {
      certPem: `${leaf.toString("pem")}\n${this.intermediate.toString("pem")}\n`,
      keyPem: await privateKeyPem(keys.privateKey),
      bundlePem: this.bundlePem,
      notAfter,
    };
  }
}

/** The DNS SAN of a workload certificate: <name>.<trust domain>. */
export function dnsName(id: WorkloadId): string {
  return `${id.name}.${id.trustDomain}`;
}

/** A CA as PEM text: two certificates and their keys. */
export interface MeshCaPem {
  readonly rootCertPem: string;
  readonly rootKeyPem: string;
  readonly intermediateCertPem: string;
  readonly intermediateKeyPem: string;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]));
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return `${x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY")}\n`;
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return (await webcrypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]));
}

/** A random positive 16-byte serial number, as RFC 5280 asks (unique, unpredictable). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}
