import type { Env } from "../env.js";
import { credentialFilesIn, type CredentialFiles } from "./credential-files.js";
import { WorkloadCredentials } from "./workload-credentials.js";

export interface MeshTlsFromEnv {
  /** The process's workload credentials, reloaded as their files change; undefined when MESH_INSECURE=1. */
  readonly credentials: WorkloadCredentials | undefined;
  /** "https" over mTLS, "http" without: the scheme of the mesh's URLs. */
  readonly scheme: "http" | "https";
}

export interface MeshTlsFromEnvOptions {
  /** Told about credentials files that changed but could not be loaded (the previous stay in use). */
  readonly onReloadError?: (err: Error) => void;
}

/**
 * A process's mTLS configuration from its environment. mTLS is on unless
 * MESH_INSECURE=1. Its credentials are three PEM files: MESH_TLS_DIR holding
 * tls.crt, tls.key and ca.crt (cert-manager's names), or each named by
 * MESH_TLS_CERT_FILE, MESH_TLS_KEY_FILE and MESH_TLS_CA_FILE (which override
 * the directory's). The certificate must be the identity of `name`
 * (spiffe://<trust domain>/service/<name>). Anything missing or wrong stops
 * the process at start, naming the variable.
 */
export function meshTlsFromEnv(env: Env, name: string, options: MeshTlsFromEnvOptions = {}): MeshTlsFromEnv {
  const insecure = env["MESH_INSECURE"] ?? "";
  if (insecure !== "" && insecure !== "0" && insecure !== "1") {
    throw new Error(`MESH_INSECURE=${insecure}: expected 1 (mTLS off) or 0`);
  }
  if (insecure === "1") {
    return { credentials: undefined, scheme: "http" };
  }
  const files = credentialFilesFromEnv(env);
  let credentials: WorkloadCredentials;
  try {
    credentials = new WorkloadCredentials(files, options.onReloadError === undefined ? {} : { onError: options.onReloadError });
  } catch (err) {
    throw new Error(`mTLS credentials (${describe(env)}): ${(err as Error).message}`, { cause: err });
  }
  const id = credentials.current.id;
  if (id.kind !== "service" || id.name !== name) {
    credentials.close();
    throw new Error(`${files.certFile} is the identity ${id.uri}, not this process's (service/${name})`);
  }
  return { credentials, scheme: "https" };
}

function credentialFilesFromEnv(env: Env): CredentialFiles {
  const dir = env["MESH_TLS_DIR"] ?? "";
  const fromDir = dir === "" ? undefined : credentialFilesIn(dir);
  const pick = (variable: string, value: string | undefined, fallback: string | undefined): string => {
    if (value !== undefined && value !== "") {
      return value;
    }
    if (fallback === undefined) {
      throw new Error(
        `mTLS is on and ${variable} is not set: set MESH_TLS_DIR (a directory with tls.crt, tls.key and ca.crt) or ` +
          "MESH_TLS_CERT_FILE, MESH_TLS_KEY_FILE and MESH_TLS_CA_FILE; or MESH_INSECURE=1 to turn mTLS off (debugging only)",
      );
    }
    return fallback;
  };
  return {
    certFile: pick("MESH_TLS_CERT_FILE", env["MESH_TLS_CERT_FILE"], fromDir?.certFile),
    keyFile: pick("MESH_TLS_KEY_FILE", env["MESH_TLS_KEY_FILE"], fromDir?.keyFile),
    caFile: pick("MESH_TLS_CA_FILE", env["MESH_TLS_CA_FILE"], fromDir?.caFile),
  };
}

function describe(env: Env): string {
  return ["MESH_TLS_DIR", "MESH_TLS_CERT_FILE", "MESH_TLS_KEY_FILE", "MESH_TLS_CA_FILE"]
    .filter((v) => (env[v] ?? "") !== "")
    .map((v) => `${v}=${env[v]}`)
    .join(", ");
}
