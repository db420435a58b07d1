// The strict unknown-field check kubernetes-models' validators lack (their
// schemas accept any extra property, as the API server's non-strict decoding
// does): every field of an object must be one its kind's type declares. The
// types are kubernetes-models' own declarations (generated from the same
// OpenAPI schemas as its validators), read with the TypeScript compiler, so a
// misspelt or misplaced field ("readinessprobe", a probe under the pod spec)
// fails the way `kubectl apply --validate=strict` would.
import { createRequire } from "node:module";
import path from "node:path";
import ts from "typescript";
import type { K8sObject } from "./kustomize.js";

/** "apps/v1", "Deployment" -> "kubernetes-models/apps/v1/Deployment". */
export function modelModule(apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Checks objects against their kinds' declared fields; one checker for many objects. */
export class StrictFieldChecker {
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();

  constructor(kinds: readonly { apiVersion: string; kind: string }[]) {
    const require = createRequire(import.meta.url);
    const root = path.dirname(require.resolve("kubernetes-models/package.json"));
    const unique = [...new Map(kinds.map((k) => [`${k.apiVersion}/${k.kind}`, k])).values()];
    const source = unique
      .map((k, i) => `import type { I${k.kind} as T${i} } from ${JSON.stringify(path.join(root, k.apiVersion, k.kind))};\nexport declare const v${i}: T${i};`)
      .join("\n");
    const file = path.join(root, "__strict_fields__.ts");
    const host = ts.createCompilerHost({});
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === file ? source : readFile(name));
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === file || fileExists(name);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, version) =>
      name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version);
    const program = ts.createProgram({
      rootNames: [file],
      options: { noEmit: true, skipLibCheck: true, strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [] },
      host,
    });
    this.checker = program.getTypeChecker();
    const moduleSymbol = this.checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    const exports = this.checker.getExportsOfModule(moduleSymbol);
    unique.forEach((k, i) => {
      const symbol = exports.find((e) => e.name === `v${i}`);
      if (symbol === undefined) throw new Error(`no declaration for ${k.apiVersion} ${k.kind}`);
      const type = this.checker.getTypeOfSymbol(symbol);
      if (type.flags & ts.TypeFlags.Any) throw new Error(`kubernetes-models has no type for ${k.apiVersion} ${k.kind}`);
      this.types.set(`${k.apiVersion}/${k.kind}`, type);
    });
  }

  /** The paths of the fields of `object` that its kind does not declare, e.g. "spec.template.spec.containers[0].readinessprobe". */
  unknownFields(object: K8sObject): string[] {
    const type = this.types.get(`${object.apiVersion}/${object.kind}`);
    if (type === undefined) throw new Error(`no type for ${object.apiVersion} ${object.kind}: pass it to the constructor`);
    const found: string[] = [];
    this.walk(object, type, "", found);
    return found;
  }

  private walk(value: unknown, declared: ts.Type, at: string, found: string[]): void {
    const type = this.checker.getNonNullableType(declared);
    if (Array.isArray(value)) {
      const element = this.checker.getIndexTypeOfType(type, ts.IndexKind.Number);
      if (element !== undefined) value.forEach((item, i) => this.walk(item, element, `${at}[${i}]`, found));
      return;
    }
    if (value === null || typeof value !== "object") return;
    // A map (labels, annotations, data): any key.
    if (this.checker.getIndexTypeOfType(type, ts.IndexKind.String) !== undefined) return;
    const objectTypes = type.isUnion() ? type.types.filter((t) => t.flags & ts.TypeFlags.Object) : [type];
    if (objectTypes.length !== 1) return;
    const only = objectTypes[0]!;
    for (const [key, child] of Object.entries(value)) {
      const property = only.getProperty(key);
      const where = at === "" ? key : `${at}.${key}`;
      if (property === undefined) {
        found.push(where);
        continue;
      }
      this.walk(child, this.checker.getTypeOfSymbol(property), where, found);
    }
  }
}
