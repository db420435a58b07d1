// The access gate of `make proto-check`: compares who may call each method
// (meshwork.access.v1) in the released baseline with the working tree, and
// reports every change. A widening (a caller added, operators let in, a
// caller newly allowed to assert the customer) fails unless
// ALLOW_ACCESS_WIDENING=1, which `make release-api` takes to record it on
// purpose, as ALLOW_BREAKING records a breaking change. Narrowings and new
// methods are reported and pass. Packages absent from the baseline
// (unstable ones, new ones) are not compared.
//   tsx scripts/access-check.ts <released.binpb> <current.binpb>
// Lines print as `file:line:col: ACCESS_WIDENED widened: <method> now allows <caller>`.
import { fromBinary, type DescMethod } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createFileRegistry } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { declaredCallers, type DeclaredCallers } from "../mesh/access/declared-callers.js";

const [baselineFile, currentFile] = process.argv.slice(2);
if (baselineFile === undefined || currentFile === undefined) {
  console.error("usage: tsx scripts/access-check.ts <released.binpb> <current.binpb>");
  process.exit(2);
}

function methods(file: string): Map<string, DescMethod> {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(file)));
  const out = new Map<string, DescMethod>();
  for (const type of registry) {
    if (type.kind === "service") {
      for (const method of type.methods) {
        out.set(`${type.typeName}/${method.name}`, method);
      }
    }
  }
  return out;
}

/** Where a method is declared, as file:line:col (buf's source info), for the report. */
function location(method: DescMethod): string {
  const file = method.parent.file;
  const serviceIndex = file.services.indexOf(method.parent);
  const methodIndex = method.parent.methods.indexOf(method);
  const path = [6, serviceIndex, 2, methodIndex];
  const found = file.proto.sourceCodeInfo?.location.find((l) => l.path.length === 4 && l.path.every((p, i) => p === path[i]));
  const name = `proto/${file.proto.name}`;
  return found === undefined ? name : `${name}:${(found.span[0] ?? 0) + 1}:${(found.span[1] ?? 0) + 1}`;
}

function describe(c: DeclaredCallers): string {
  const who = [...c.services, ...(c.operators ? ["operators"] : [])];
  return who.length === 0 ? "nobody" : who.join(", ");
}

const released = methods(baselineFile);
const current = methods(currentFile);
const releasedPackages = new Set([...released.values()].map((m) => m.parent.file.proto.package));
const allowWidening = process.env["ALLOW_ACCESS_WIDENING"] === "1";
let widened = 0;
for (const [name, method] of current) {
  if (!releasedPackages.has(method.parent.file.proto.package)) {
    continue;
  }
  const now = declaredCallers(method);
  const before = released.get(name);
  if (before === undefined) {
    console.log(`${location(method)}: ACCESS_NEW new: ${name} allows ${describe(now)}`);
    continue;
  }
  const was = declaredCallers(before);
  const findings: string[] = [];
  for (const service of now.services.filter((s) => !was.services.includes(s))) {
    findings.push(`widened: ${name} now allows ${service}`);
  }
  if (now.operators && !was.operators) {
    findings.push(`widened: ${name} now allows operators`);
  }
  for (const service of now.assertCustomer.filter((s) => !was.assertCustomer.includes(s))) {
    findings.push(`widened: ${name} now lets ${service} assert the customer`);
  }
  widened += findings.length;
  for (const finding of findings) {
    console.log(`${location(method)}: ACCESS_WIDENED ${finding}`);
  }
  for (const service of was.services.filter((s) => !now.services.includes(s))) {
    console.log(`${location(method)}: ACCESS_NARROWED narrowed: ${name} no longer allows ${service}`);
  }
  if (was.operators && !now.operators) {
    console.log(`${location(method)}: ACCESS_NARROWED narrowed: ${name} no longer allows operators`);
  }
  for (const service of was.assertCustomer.filter((s) => !now.assertCustomer.includes(s))) {
    console.log(`${location(method)}: ACCESS_NARROWED narrowed: ${name} no longer lets ${service} assert the customer`);
  }
}
if (widened > 0) {
  if (allowWidening) {
    console.log(`access: ${widened} widening(s) released on purpose (ALLOW_ACCESS_WIDENING=1)`);
  } else {
    console.error(
      `access: ${widened} widening(s) of who may call what (above): review them; release them on purpose with ALLOW_ACCESS_WIDENING=1 make release-api`,
    );
    process.exit(1);
  }
}
