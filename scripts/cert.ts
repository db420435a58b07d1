// Issues a certificate from make run's mesh CA (.data/ca, made if absent):
// an operator's identity for tools such as buf curl, or a service's for a
// process started by hand (split mode). Writes tls.crt, tls.key (0600) and
// ca.crt into a 0700 directory and prints their paths; never prints a key.
//   tsx scripts/cert.ts --name <name> [--kind operator|service] [--ttl <seconds>]
// Operators: .data/tls/operators/<name>, 8 h by default. Services:
// .data/tls/<name>, 1 h by default (make run renews its own processes'). The
// trust domain is MESH_TRUST_DOMAIN (default meshwork.local); the data
// directory MESH_DATA_DIR (default .data).
import path from "node:path";
import { parseArgs } from "node:util";
import { openCaDir } from "../mesh/identity/ca-files.js";
import { dnsName } from "../mesh/identity/mesh-ca.js";
import { defaultTrustDomain, workloadId, type IdentityKind } from "../mesh/identity/spiffe-id.js";
import { envString } from "../mesh/index.js";
import { issueCredentials, operatorTtlMs } from "./support/issue-credentials.js";

const usage = "usage: tsx scripts/cert.ts --name <name> [--kind operator|service] [--ttl <seconds>]";
const root = path.resolve(import.meta.dirname, "..");

let values;
try {
  ({ values } = parseArgs({ options: { name: { type: "string" }, kind: { type: "string" }, ttl: { type: "string" } } }));
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`);
}
const kind = (values.kind ?? "operator") as IdentityKind;
if (kind !== "operator" && kind !== "service") {
  fail(`--kind must be operator or service, got ${values.kind}\n${usage}`);
}
const ttlSec = values.ttl === undefined || values.ttl === "" ? (kind === "operator" ? operatorTtlMs / 1000 : 3600) : Number(values.ttl);
if (!(Number.isInteger(ttlSec) && ttlSec >= 10)) {
  fail(`--ttl must be a whole number of seconds, at least 10; got ${values.ttl}`);
}
const trustDomain = envString(process.env, "MESH_TRUST_DOMAIN", defaultTrustDomain);
let id;
try {
  id = workloadId(trustDomain, kind, values.name ?? "");
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`);
}
const dataDir = path.resolve(root, envString(process.env, "MESH_DATA_DIR", ".data"));
const ca = await openCaDir(path.join(dataDir, "ca"), trustDomain);
const { files, notAfter } = await issueCredentials(ca, dataDir, { kind, name: id.name, ttlMs: ttlSec * 1000 });
console.log(`${id.uri}, valid until ${notAfter.toISOString()}`);
console.log(`  certificate  ${path.relative(root, files.certFile)}`);
console.log(`  key          ${path.relative(root, files.keyFile)}`);
console.log(`  CA bundle    ${path.relative(root, files.caFile)}`);
if (kind === "operator") {
  const rel = (f: string): string => path.relative(root, f);
  console.log("e.g.");
  console.log(
    `  npx buf curl --protocol grpc --cert ${rel(files.certFile)} --key ${rel(files.keyFile)} --cacert ${rel(files.caFile)} \\\n` +
      `    --servername ${dnsName(workloadId(trustDomain, "service", "inventory"))} --list-services https://127.0.0.1:50051`,
  );
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
