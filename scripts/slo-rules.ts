// `make slo-rules`: the Prometheus rules of every SLO in the catalogue
// (recording rules and the workbook's burn-rate alerts), written to
// prometheus/slo-rules.yml, which prometheus/prometheus.yml loads.
// `--scale N --out FILE` writes a copy with every window divided by N (tests).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadCatalogue } from "../platform/catalogue/index.js";
import { sloRulesFile, sloRulesYaml } from "../platform/slo/index.js";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { scale: { type: "string", default: "1" }, out: { type: "string" } } });
const scale = Number(values.scale);
const out = values.out ?? path.join(root, sloRulesFile);
writeFileSync(out, sloRulesYaml(loadCatalogue(root).services.map((s) => s.manifest), { scale }));
console.log(`wrote ${path.relative(process.cwd(), out)}`);
