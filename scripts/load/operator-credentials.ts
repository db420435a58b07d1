import { existsSync } from "node:fs";
import path from "node:path";
import { openCaDir } from "../../mesh/identity/ca-files.js";
import { credentialFilesIn, type CredentialFiles } from "../../mesh/identity/credential-files.js";
import { issueCredentials } from "../support/issue-credentials.js";

/** How long the operator certificate `make load` issues itself is valid: a long run's length, no more. */
const loadCertificateTtlMs = 8 * 3_600_000;

/**
 * The credentials `make load --target grpc` presents to a service over mTLS:
 * the files in `tlsDir` when given (an operator's, as `make cert` writes
 * them), else an operator identity "load" issued now from the mesh CA that
 * `make run` keeps in `<dataDir>/ca`, written to `<dataDir>/tls/operators/load`
 * (proto/meshwork/inventory/v1/inventory.proto lets operators call its
 * reads). Throws, saying what to do, when neither is there: a CA
 * made here would be one the running mesh does not trust.
 */
export async function loadOperatorCredentials(options: { readonly dataDir: string; readonly trustDomain: string; readonly tlsDir?: string }): Promise<CredentialFiles> {
  if (options.tlsDir !== undefined) {
    const files = credentialFilesIn(options.tlsDir);
    const missing = [files.certFile, files.keyFile, files.caFile].filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new Error(`--tls-dir ${options.tlsDir} lacks ${missing.map((f) => path.basename(f)).join(", ")} (make cert NAME=<you> writes an operator's)`);
    }
    return files;
  }
  const caDir = path.join(options.dataDir, "ca");
  if (!existsSync(caDir)) {
    throw new Error(
      `no mesh CA in ${caDir} to issue this tool's certificate: start the mesh with make run first, ` +
        "pass --tls-dir with an operator's credentials, or set MESH_INSECURE=1 for a mesh running without mTLS",
    );
  }
  const ca = await openCaDir(caDir, options.trustDomain);
  return (await issueCredentials(ca, options.dataDir, { kind: "operator", name: "load", ttlMs: loadCertificateTtlMs })).files;
}
