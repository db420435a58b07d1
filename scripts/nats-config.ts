// `make nats-config`: the nats-server configuration of the mesh's NATS mode,
// from the mesh CA (.data/ca, made if absent, as make run does): the server's
// own certificate (spiffe://<trust domain>/service/nats) in .data/tls/nats,
// and .data/nats/nats-server.conf requiring TLS with a mesh certificate from
// every client, each workload's identity a user with its subject permissions
// (scripts/support/nats-plan.ts). Prints how to start nats-server with it.
//   tsx scripts/nats-config.ts [--port 4222] [--ttl <seconds, default 7 days>]
// Nothing renews the server's certificate: run it again before it expires and
// tell the server (`nats-server --signal reload`).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { natsServerConfig } from "../mesh/events/nats-server-config.js";
import { openCaDir } from "../mesh/identity/ca-files.js";
import { defaultTrustDomain, envString, workloadId, writeCredentialFiles } from "../mesh/index.js";
import { meshworkNatsPlan } from "./support/nats-plan.js";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { port: { type: "string", default: "4222" }, ttl: { type: "string", default: String(7 * 24 * 3600) } } });
const port = Number(values.port);
const ttlSec = Number(values.ttl);
if (!(Number.isInteger(port) && port > 0 && port < 65536) || !(Number.isInteger(ttlSec) && ttlSec >= 60)) {
  console.error("usage: tsx scripts/nats-config.ts [--port 4222] [--ttl <seconds, at least 60>]");
  process.exit(2);
}
const trustDomain = envString(process.env, "MESH_TRUST_DOMAIN", defaultTrustDomain);
const dataDir = path.resolve(root, envString(process.env, "MESH_DATA_DIR", ".data"));
const ca = await openCaDir(path.join(dataDir, "ca"), trustDomain);
const credentials = await ca.issue(workloadId(trustDomain, "service", "nats"), { ttlMs: ttlSec * 1000 });
const files = writeCredentialFiles(path.join(dataDir, "tls", "nats"), credentials);
const dir = path.join(dataDir, "nats");
mkdirSync(dir, { recursive: true });
const configFile = path.join(dir, "nats-server.conf");
writeFileSync(
  configFile,
  natsServerConfig({ host: "127.0.0.1", port, storeDir: path.join(dir, "jetstream"), ...files, trustDomain, plan: meshworkNatsPlan }),
);
const rel = (f: string): string => path.relative(root, f);
console.log(`${rel(configFile)}: TLS with mesh certificates, users ${Object.keys({ ...meshworkNatsPlan.publishers, ...meshworkNatsPlan.consumers }).join(", ")}`);
console.log(`server certificate ${rel(files.certFile)} valid until ${credentials.notAfter.toISOString()}`);
console.log(`start it:  nats-server -c ${rel(configFile)}`);
console.log(`then:      NATS_URL=tls://127.0.0.1:${port} make run`);
