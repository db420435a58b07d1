// `make manifests`: rewrites the generated files of deploy/kubernetes/base:
// network-policies.yaml from the contracts' declared callers
// (deploy/kubernetes/network-policies.ts) and nats-config.yaml, the NATS
// cluster's TLS and subject permissions (deploy/kubernetes/nats-config.ts).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { natsConfigMapYaml, repositoryNatsOptions } from "../deploy/kubernetes/nats-config.js";
import { networkPoliciesYaml, repositoryInput } from "../deploy/kubernetes/network-policies.js";

const root = path.resolve(import.meta.dirname, "..");
const base = path.join(root, "deploy/kubernetes/base");
const files: [string, string][] = [
  ["network-policies.yaml", networkPoliciesYaml(await repositoryInput(root))],
  ["nats-config.yaml", natsConfigMapYaml(repositoryNatsOptions)],
];
for (const [name, text] of files) {
  writeFileSync(path.join(base, name), text);
  console.log(`wrote ${path.relative(root, path.join(base, name))}`);
}
