// `make network-policies`: rewrites deploy/kubernetes/base/network-policies.yaml
// from the contracts' declared callers (deploy/kubernetes/network-policies.ts).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { networkPoliciesYaml, repositoryInput } from "../deploy/kubernetes/network-policies.js";

const root = path.resolve(import.meta.dirname, "..");
const file = path.join(root, "deploy/kubernetes/base/network-policies.yaml");
writeFileSync(file, networkPoliciesYaml(await repositoryInput(root)));
console.log(`wrote ${path.relative(root, file)}`);
