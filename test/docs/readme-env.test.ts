import { expect } from "chai";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

/** Source files of the processes and scripts (not tests, fixtures or generated code). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, dir))) {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) {
      out.push(...sources(rel));
    } else if (/\.ts$/.test(name) && !/\.(test|fixture)\.ts$/.test(name)) {
      out.push(rel);
    }
  }
  return out;
}

/**
 * Every environment variable the code reads, by the ways it reads them: the
 * typed readers of mesh/env.ts, `env["X"]` and `env.X`, the variable tables
 * of the *-from-env modules (string literals of upper-case names), and the
 * `${X}` placeholders of gateway.yaml.
 */
function variablesRead(): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /\benv(?:String|Int|Endpoints|TargetEndpoints|Choice)\(\s*[\w.]+,\s*"([A-Z][A-Z0-9_]+)"/g,
    /\benv\["([A-Z][A-Z0-9_]+)"\]/g,
    /\benv\.([A-Z][A-Z0-9_]{2,})\b/g,
  ];
  for (const file of ["mesh", "gateway", "services", "scripts", "platform"].flatMap(sources)) {
    const text = readFileSync(path.join(root, file), "utf8");
    const tables = /FromEnv|from-env/.test(file) ? [/"((?:OTEL|CONN|HTTP2?|MAX|NATS)_[A-Z0-9_]+)"/g] : [];
    for (const pattern of [...patterns, ...tables]) {
      for (const m of text.matchAll(pattern)) {
        found.set(m[1]!, file);
      }
    }
  }
  const config = readFileSync(path.join(root, "gateway/gateway.yaml"), "utf8")
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n");
  for (const m of config.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) {
    found.set(m[1]!, "gateway/gateway.yaml");
  }
  return found;
}

/** The names in the first column of the README's table of environment variables. */
function documented(): Set<string> {
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const start = readme.indexOf("## Environment variables");
  expect(start, "README has a section 'Environment variables'").to.be.greaterThan(-1);
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const names = new Set<string>();
  for (const line of section.split("\n").filter((l) => l.startsWith("| `"))) {
    for (const m of (line.split("|")[1] ?? "").matchAll(/`([A-Z<][A-Za-z0-9_<>]*)`/g)) {
      names.add(m[1]!);
    }
  }
  return names;
}

describe("README: the table of environment variables", () => {
  it("lists every variable a process or script reads", () => {
    const read = variablesRead();
    const listed = documented();
    expect(read.size, "variables found in the code").to.be.greaterThan(30);
    const missing = [...read].filter(([name]) => !listed.has(name)).map(([name, file]) => `${name} (${file})`);
    expect(missing, "read by the code but not in the README's table").to.deep.equal([]);
  });

  it("lists no variable the code does not read", () => {
    const read = variablesRead();
    const stale = [...documented()].filter((name) => !name.includes("<") && !read.has(name));
    expect(stale, "in the README's table but read nowhere").to.deep.equal([]);
  });
});
