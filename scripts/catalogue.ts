// `make catalogue`: the service catalogue, checked against the code, as
// tables: who owns what, who calls whom, which data lives where, and the
// objectives each service promises. `--json` prints the manifests instead.
// Exits 1, naming each disagreement, when the catalogue and the code differ.
import path from "node:path";
import { loadCatalogue, type Sli } from "../platform/catalogue/index.js";
import { checkCatalogue } from "../platform/catalogue/check-catalogue.js";
import { contractServices } from "../platform/catalogue/contract-services.js";
import { table } from "./support/text-table.js";

const root = path.resolve(import.meta.dirname, "..");
const catalogue = loadCatalogue(root);
const problems = await checkCatalogue(root, catalogue, await contractServices(root));
const manifests = catalogue.services.map((s) => s.manifest);

if (process.argv.includes("--json")) {
  console.log(JSON.stringify(manifests, null, 2));
} else {
  const callers = (name: string): string[] => manifests.filter((m) => m.dependencies.includes(name)).map((m) => m.name);
  console.log("Services\n");
  console.log(
    table(
      ["service", "owner", "tier", "calls", "called by", "description"],
      manifests.map((m) => [m.name, m.owner, String(m.tier), m.dependencies.join(", ") || "-", callers(m.name).join(", ") || "-", m.description]),
    ),
  );
  console.log("\nData (each service's own database; nobody else opens it)\n");
  console.log(table(["service", "tables"], manifests.map((m) => [m.name, m.data.join(", ") || "(none)"])));
  console.log("\nService-level objectives (30 days)\n");
  console.log(
    table(
      ["service", "slo", "objective", "indicator", "of"],
      manifests.flatMap((m) => m.slos.map((s) => [m.name, s.name, `${s.objective}%`, indicator(s.sli), subject(s.sli)])),
    ),
  );
}
if (problems.length > 0) {
  console.error(`\nThe catalogue disagrees with the code:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  process.exit(1);
}

function indicator(sli: Sli): string {
  return sli.kind === "availability" ? "no server error" : `under ${sli.belowSeconds * 1000} ms`;
}

function subject(sli: Sli): string {
  return "method" in sli.subject ? sli.subject.method : `${sli.subject.route.httpMethod} ${sli.subject.route.template}`;
}
