// One identity's certificate from a mesh CA, written where make run's data
// directory keeps it: an operator's in <dataDir>/tls/operators/<name>, a
// service's in <dataDir>/tls/<name>. `make cert`, `make load` (its own
// operator "load") and chaos (its operator "chaos" and NATS's certificate)
// all issue through it.
import path from "node:path";
import { writeCredentialFiles, type CredentialFiles } from "../../mesh/identity/credential-files.js";
import type { MeshCa } from "../../mesh/identity/mesh-ca.js";
import { workloadId, type IdentityKind } from "../../mesh/identity/spiffe-id.js";

/** An operator's certificate lives a working day unless asked otherwise. */
export const operatorTtlMs = 8 * 3_600_000;

export interface IssuedCredentials {
  /** spiffe://<trust domain>/<kind>/<name> */
  readonly uri: string;
  readonly files: CredentialFiles;
  readonly notAfter: Date;
}

/** The directory an identity's files go to under `dataDir`. */
export function credentialDirOf(dataDir: string, kind: IdentityKind, name: string): string {
  return kind === "operator" ? path.join(dataDir, "tls", "operators", name) : path.join(dataDir, "tls", name);
}

/**
 * Issues `kind`/`name` from `ca` for `ttlMs` and writes tls.crt, tls.key
 * (0600) and ca.crt into its directory under `dataDir` (0700). Throws on a
 * name that is not a workload name.
 */
export async function issueCredentials(
  ca: MeshCa,
  dataDir: string,
  identity: { readonly kind: IdentityKind; readonly name: string; readonly ttlMs: number },
): Promise<IssuedCredentials> {
  const id = workloadId(ca.trustDomain, identity.kind, identity.name);
  const credentials = await ca.issue(id, { ttlMs: identity.ttlMs });
  const files = writeCredentialFiles(credentialDirOf(dataDir, identity.kind, id.name), credentials);
  return { uri: id.uri, files, notAfter: credentials.notAfter };
}
