// `make service NAME=<name> [PUBLIC=1]`: scaffolds a working service — its
// contract, regenerated gen/, services/<name>/ (main, handler, domain, store
// with migrations, tests), its catalogue entry with the next free port (so
// `make run` starts it), its SLO rules, and with PUBLIC=1 its upstream in
// gateway/gateway.yaml, its access-policy lines and the gateway's catalogue
// dependency. Refuses, writing nothing, a name that is not a lowercase
// word or that is taken.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { isSeq, parseDocument } from "yaml";
import { loadCatalogue, nextFreePort } from "../platform/catalogue/index.js";
import { envPrefix, serviceFiles, serviceNamePattern, serviceTypeName } from "../platform/scaffold/index.js";
import { sloRulesFile, sloRulesYaml } from "../platform/slo/index.js";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { name: { type: "string", default: "" }, public: { type: "boolean", default: false } } });
const name = values.name ?? "";
const isPublic = values.public ?? false;

/** Names that are folders or packages of the repository itself. */
const reserved = new Set(["gateway", "mesh", "platform", "events", "access", "library", "google", "grpc", "buf", "test", "scripts"]);

function refuse(message: string): never {
  console.error(`make service: ${message}`);
  process.exit(2);
}

if (!serviceNamePattern.test(name)) {
  refuse(`NAME=${JSON.stringify(name)} must be 2 to 31 lowercase letters or digits, starting with a letter (it becomes the proto package meshwork.<name>.v1), e.g. make service NAME=shipping`);
}
if (reserved.has(name)) {
  refuse(`NAME=${name} is reserved`);
}
const catalogue = loadCatalogue(root);
const port = nextFreePort(catalogue);
const files = serviceFiles({ name, port, isPublic });
const taken = [`services/${name}`, `proto/meshwork/${name}`, ...Object.keys(files)].filter((f) => existsSync(path.join(root, f)));
if (taken.length > 0 || catalogue.services.some((s) => s.manifest.name === name)) {
  refuse(`${name} exists already (${taken.join(", ") || "in the catalogue"}); nothing was written`);
}

for (const [file, text] of Object.entries(files)) {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), text);
}

if (isPublic) {
  const typeName = serviceTypeName(name);
  // The access policy: creating is for customers, reading is public.
  const policyFile = path.join(root, "gateway", "auth", "access-policy.json");
  const policy = JSON.parse(readFileSync(policyFile, "utf8")) as { methods: Record<string, string> };
  policy.methods[`${typeName}/CreateEntry`] = "customer";
  policy.methods[`${typeName}/GetEntry`] = "public";
  writeFileSync(policyFile, `${JSON.stringify(policy, null, 2)}\n`);

  // The gateway's upstream, in its config (comments kept).
  const configFile = path.join(root, "gateway", "gateway.yaml");
  const config = parseDocument(readFileSync(configFile, "utf8"));
  const upstreams = config.get("upstreams");
  if (!isSeq(upstreams)) refuse(`${configFile} has no upstreams list`);
  upstreams.add(config.createNode({ name, endpoints: `\${${envPrefix(name)}_URL:-https://127.0.0.1:${port}}`, services: [typeName] }));
  writeFileSync(configFile, config.toString());

  // The README's table of variables: the gateway reads <NAME>_URL through its config.
  const readmeFile = path.join(root, "README.md");
  const readme = readFileSync(readmeFile, "utf8");
  const anchor = "| `GATEWAY_CONFIG` |";
  if (!readme.includes(anchor)) refuse(`README.md has no ${anchor} row to add ${envPrefix(name)}_URL before`);
  writeFileSync(
    readmeFile,
    readme.replace(anchor, `| \`${envPrefix(name)}_URL\` | gateway | \`https://127.0.0.1:${port}\` (\`http://\` with \`MESH_INSECURE=1\`) | ${name}: a URL, a comma-separated list, or \`dns:<host>:<port>\` |\n${anchor}`),
  );

  // The gateway now calls it: its catalogue entry says so.
  const gatewayManifest = path.join(root, "gateway", "service.yaml");
  const manifest = parseDocument(readFileSync(gatewayManifest, "utf8"));
  const dependencies = manifest.get("dependencies");
  if (!isSeq(dependencies)) refuse(`${gatewayManifest} has no dependencies list`);
  dependencies.add(name);
  writeFileSync(gatewayManifest, manifest.toString());
}

// Prometheus scrapes it, so that the SLO rules generated for it below have series to read.
const prometheusFile = path.join(root, "prometheus", "prometheus.yml");
const prometheus = parseDocument(readFileSync(prometheusFile, "utf8"));
const scrapeConfigs = prometheus.get("scrape_configs");
if (!isSeq(scrapeConfigs)) refuse(`${prometheusFile} has no scrape_configs list`);
scrapeConfigs.add(prometheus.createNode({ job_name: name, static_configs: [{ targets: [`127.0.0.1:${port}`] }] }));
writeFileSync(prometheusFile, prometheus.toString());

// gen/ from the new contract, and the SLO rules from the new catalogue entry.
execFileSync(path.join(root, "node_modules", ".bin", "buf"), ["generate"], { cwd: root, stdio: "inherit" });
writeFileSync(path.join(root, sloRulesFile), sloRulesYaml(loadCatalogue(root).services.map((s) => s.manifest)));

console.log(`Scaffolded ${name} (${isPublic ? "public: routed by the gateway" : "internal"}) on port ${port}:
${Object.keys(files)
  .map((f) => `  ${f}`)
  .join("\n")}
  gen/meshwork/${name}/v1/ (buf generate), ${sloRulesFile}, prometheus/prometheus.yml (a scrape job)${
    isPublic ? "\n  gateway/gateway.yaml, gateway/auth/access-policy.json, gateway/service.yaml, README.md's variables (updated)" : ""
  }
Next: fill in owner and description in services/${name}/service.yaml, replace the entry with your
resource, then make test. make run starts it on ${port} (${envPrefix(name)}_PORT overrides).`);
