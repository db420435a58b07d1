// The environment variables a Meshwork main reads, and the defaults it falls
// back to, read from the sources (only mains and the few mesh/ helpers they
// hand `process.env` to read the environment), so that the manifests can be
// checked against the code: a variable whose default only works on one
// machine (a loopback address) must be set in the pod; a variable the pod
// sets must be one the main reads.
import { readFileSync } from "node:fs";
import path from "node:path";

export interface EnvRead {
  readonly name: string;
  /** The literal fallback in the source, when there is one. */
  readonly fallback?: string;
}

/** The mesh/ helpers that read the environment a main hands them, and what a main calls to use each. */
const helpers: { readonly file: string; readonly usedBy: RegExp }[] = [
  { file: "mesh/process/service-runtime.ts", usedBy: /\bserviceRuntime\(/ },
  { file: "mesh/telemetry/tracing-from-env.ts", usedBy: /\bserviceRuntime\(|\btracingFromEnv\(/ },
  { file: "mesh/identity/tls-from-env.ts", usedBy: /\bserviceRuntime\(|\bmeshTlsFromEnv\(/ },
  { file: "mesh/events/bus-from-env.ts", usedBy: /\beventBusFromEnv\(/ },
  { file: "mesh/store/store-from-env.ts", usedBy: /\bstoreFromEnv\(/ },
];

const callPattern = /\benv\w*\(\s*env\s*,\s*"([A-Z][A-Z0-9_]*)"\s*(?:,\s*"([^"]*)")?/g;
const indexPattern = /\benv(?:\[\s*"([A-Z][A-Z0-9_]*)"\s*\]|\.([A-Z][A-Z0-9_]*)\b)/g;
const placeholderPattern = /\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}/g;

function readsIn(text: string): EnvRead[] {
  const reads: EnvRead[] = [];
  for (const m of text.matchAll(callPattern)) reads.push(m[2] === undefined ? { name: m[1]! } : { name: m[1]!, fallback: m[2] });
  for (const m of text.matchAll(indexPattern)) reads.push({ name: (m[1] ?? m[2])! });
  return reads;
}

/**
 * What the main of `workload` ("orders", "gateway") reads: its own calls,
 * those of the helpers it uses, and for the gateway the `${VAR:-default}`
 * placeholders of its config file. One entry per name (the one with a fallback wins).
 */
export function envReadsOf(root: string, workload: string): EnvRead[] {
  const main = workload === "gateway" ? "gateway/main.ts" : `services/${workload}/main.ts`;
  const source = readFileSync(path.join(root, main), "utf8");
  const reads = readsIn(source);
  for (const helper of helpers) {
    if (helper.usedBy.test(source)) reads.push(...readsIn(readFileSync(path.join(root, helper.file), "utf8")));
  }
  if (workload === "gateway") {
    const config = readFileSync(path.join(root, "gateway/gateway.yaml"), "utf8");
    const active = config.split("\n").filter((line) => !line.trimStart().startsWith("#")).join("\n");
    for (const m of active.matchAll(placeholderPattern)) reads.push(m[2] === undefined ? { name: m[1]! } : { name: m[1]!, fallback: m[2] });
  }
  const byName = new Map<string, EnvRead>();
  for (const read of reads) {
    if (!byName.has(read.name) || (byName.get(read.name)!.fallback === undefined && read.fallback !== undefined)) byName.set(read.name, read);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** A default that only works when every process shares one machine. */
export function isMachineLocal(fallback: string | undefined): boolean {
  return fallback !== undefined && /127\.0\.0\.1|localhost|\.data\b/.test(fallback);
}
