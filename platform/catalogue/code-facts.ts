// What a service's code says about it, for checking its catalogue entry:
// the targets its main builds, the tables its migrations create, the
// databases it opens. Read from the source (parsed with the TypeScript
// compiler, never run) and, for tables, by running its migrations on an
// in-memory SQLite database with the mesh's own migrator.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { parse } from "yaml";
import { openDatabase } from "../../mesh/index.js";

/**
 * The services a main reaches: every client target it builds (an object
 * literal with a string `name` and `endpoints`, or a spread of an
 * `env...Endpoints(...)` reader, as ClientFactory takes) and
 * every producer it pulls events from on the embedded bus (the keys of
 * `sources: { [stream]: url }`; a stream is named after its producer).
 */
export function mainTargets(root: string, folder: string): string[] {
  const file = path.join(root, folder, "main.ts");
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isObjectLiteralExpression(node)) {
      const name = property(node, "name");
      if (name !== undefined && ts.isStringLiteralLike(name) && (property(node, "endpoints") !== undefined || spreadsEndpoints(node))) {
        found.add(name.text);
      }
      const sources = property(node, "sources");
      if (sources !== undefined && ts.isObjectLiteralExpression(sources)) {
        for (const p of sources.properties) {
          const key = p.name === undefined ? undefined : keyText(p.name, root, folder);
          if (key === undefined) {
            throw new Error(`${folder}/main.ts: cannot read the stream name of an events source at ${p.getText()}`);
          }
          found.add(key);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...found].sort();
}

/**
 * The port a main listens on when PORT is unset: the `defaultPort` it gives
 * serviceRuntime. Undefined when it gives none.
 */
export function mainDefaultPort(root: string, folder: string): number | undefined {
  const text = readFileSync(path.join(root, folder, "main.ts"), "utf8");
  const m = /serviceRuntime\([^)]*\bdefaultPort:\s*([0-9_]+)/s.exec(text);
  return m === null ? undefined : Number(m[1]!.replaceAll("_", ""));
}

/**
 * The upstreams a gateway config beside the main names (`<folder>/gateway.yaml`,
 * the gateway's: it builds its targets from that file, not in code).
 */
export function configTargets(root: string, folder: string): string[] {
  const file = path.join(root, folder, "gateway.yaml");
  if (!existsSync(file)) {
    return [];
  }
  const config = parse(readFileSync(file, "utf8")) as { upstreams?: { name?: unknown }[] } | null;
  return (config?.upstreams ?? []).map((u) => String(u.name)).sort();
}

/**
 * The tables the service's migrations create: its `migrations.ts` export
 * `migrations`, applied with openDatabase to a fresh in-memory database. A
 * folder without migrations.ts owns no data.
 */
export async function migrationTables(root: string, folder: string): Promise<string[]> {
  const file = path.join(root, folder, "migrations.ts");
  if (!existsSync(file)) {
    return [];
  }
  const { migrations } = (await import(pathToFileURL(file).href)) as { migrations?: readonly string[] };
  if (!Array.isArray(migrations)) {
    throw new Error(`${folder}/migrations.ts does not export a migrations list`);
  }
  const db = openDatabase(":memory:", { name: path.basename(folder), migrations });
  try {
    const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
    return rows.map((r) => r.name);
  } finally {
    db.close();
  }
}

/**
 * Places in a service's own (non-test) source where it opens a database
 * that is not its own, or reaches into another service's folder: a data file
 * other than `<name>.db`, an openDatabase name other than its own, or a path
 * naming another catalogue service's folder or database file.
 */
export function foreignDatabaseUses(root: string, folder: string, name: string, otherServices: readonly string[]): string[] {
  const dir = path.join(root, folder);
  const problems: string[] = [];
  for (const entry of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).sort()) {
    const text = readFileSync(path.join(dir, entry), "utf8");
    const at = `${folder}/${entry}`;
    for (const m of text.matchAll(/dataFile\(\s*["'`]([^"'`]+)["'`]/g)) {
      if (m[1] !== `${name}.db`) problems.push(`${at}: opens data file "${m[1]}", not ${name}.db`);
    }
    for (const m of text.matchAll(/(?:openDatabase|openPostgres)\([^;]*?\bname:\s*["'`]([^"'`]+)["'`]/gs)) {
      if (m[1] !== name) problems.push(`${at}: opens the database of "${m[1]}"`);
    }
    for (const other of otherServices) {
      if (new RegExp(`["'\`/]${other}\\.db["'\`]`).test(text)) problems.push(`${at}: names ${other}'s database file ${other}.db`);
      if (text.includes(`../${other}/`)) problems.push(`${at}: reaches into services/${other}/`);
    }
  }
  return problems;
}

/** A spread of an env...Endpoints reader call: endpoints (and versions) read from the environment. */
function spreadsEndpoints(node: ts.ObjectLiteralExpression): boolean {
  return node.properties.some(
    (p) => ts.isSpreadAssignment(p) && ts.isCallExpression(p.expression) && /Endpoints$/.test(p.expression.expression.getText()),
  );
}

function property(node: ts.ObjectLiteralExpression, name: string): ts.Expression | undefined {
  for (const p of node.properties) {
    if (ts.isPropertyAssignment(p) && p.name !== undefined && ts.isIdentifier(p.name) && p.name.text === name) {
      return p.initializer;
    }
  }
  return undefined;
}

/** A property key's text: a literal, or a computed `[constant]` whose value is a string constant exported in the service's folder. */
function keyText(name: ts.PropertyName, root: string, folder: string): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteralLike(name)) {
    return name.text;
  }
  if (ts.isComputedPropertyName(name)) {
    const expr = name.expression;
    if (ts.isStringLiteralLike(expr)) return expr.text;
    if (ts.isIdentifier(expr)) return constantValue(root, folder, expr.text);
  }
  return undefined;
}

/** The value of `export const <identifier> = "<text>"` in one of the folder's own files. */
function constantValue(root: string, folder: string, identifier: string): string | undefined {
  const dir = path.join(root, folder);
  for (const entry of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
    const m = new RegExp(`export const ${identifier}\\s*=\\s*["'\`]([^"'\`]+)["'\`]`).exec(readFileSync(path.join(dir, entry), "utf8"));
    if (m !== null) return m[1];
  }
  return undefined;
}

/** Whether a main calls the function `name` (by its plain name, e.g. `eventBusServices(bus)`), read from its syntax tree. */
export function mainCalls(root: string, folder: string, name: string): boolean {
  const file = path.join(root, folder, "main.ts");
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): boolean =>
    (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === name) || ts.forEachChild(node, visit) === true;
  return visit(source);
}
