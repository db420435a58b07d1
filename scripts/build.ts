// `make build`: the production build in dist/. Every module of mesh/,
// gateway/, services/ and gen/ transpiled to JavaScript one file per file
// (esbuild, no bundling: the layout and the `.js` import specifiers stay as
// they are, and native modules such as better-sqlite3 load from node_modules);
// the browser pages bundled now, so that the gateway runs neither esbuild nor
// tsx at start; the assets the processes read at run time (the gateway's
// config and access policy); the gateway's descriptors (a buf image), from
// which it routes and writes the OpenAPI document. Type checking is `make typecheck`'s
// job (tsc --noEmit), not repeated here.
//
// Run: node dist/services/orders/main.js (or any main) with the production
// dependencies only (`npm ci --omit=dev`).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { meshPageSource } from "../gateway/mesh-page/page-bundle.js";
import { builtBundleName, bundlePage, webAppSource, type PageSource } from "../gateway/web/bundle.js";

const root = path.resolve(import.meta.dirname, "..");
// `--out DIR` builds elsewhere (the build test does); dist/ by default.
const outFlag = process.argv.indexOf("--out");
const outArg = outFlag === -1 ? "dist" : process.argv[outFlag + 1];
if (outArg === undefined || outArg === "" || outArg.startsWith("-")) throw new Error("usage: build.ts [--out DIR]");
const dist = path.resolve(root, outArg);
if (dist === root || !path.basename(dist)) throw new Error(`refusing to build into ${dist}`);
// platform/: the gateway reads the service catalogue and the SLO definitions.
const sourceDirs = ["gen", "mesh", "platform", "services", "gateway"];
const pages: PageSource[] = [webAppSource, meshPageSource];
// Files the processes read at run time besides their modules.
const assetPattern = /\.(json|html|yaml)$/;
const builtApiImage = "api.binpb";

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));
}

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
const files = sourceDirs.flatMap(filesUnder);
const pageEntries = new Set(pages.map((page) => path.relative(root, path.join(page.dir, page.entry))));
// Tests stay out of the build; page entries are bundled below instead.
const modules = files.filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts") && !pageEntries.has(f));
await build({
  entryPoints: modules,
  outbase: root,
  outdir: dist,
  absWorkingDir: root,
  bundle: false,
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
});

for (const page of pages) {
  const { js } = await bundlePage(page);
  const out = path.join(dist, path.relative(root, page.dir));
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, builtBundleName(page.entry)), js);
}
const assets = files.filter((f) => assetPattern.test(f));
for (const asset of assets) {
  cpSync(path.join(root, asset), path.join(dist, asset));
}
// The gateway's descriptors (a buf image with imports), beside its config,
// which points at it instead of make run's .data/api.binpb (API_IMAGE still
// overrides it).
execFileSync(path.join(root, "node_modules/.bin/buf"), ["build", "proto", "-o", path.join(dist, "gateway", builtApiImage)], {
  cwd: root,
  stdio: "inherit",
});
const configFile = path.join(dist, "gateway", "gateway.yaml");
const config = readFileSync(configFile, "utf8");
const devDescriptors = "${API_IMAGE:-../.data/api.binpb}";
if (!config.includes(devDescriptors)) throw new Error(`gateway/gateway.yaml no longer names its descriptors as ${devDescriptors}`);
writeFileSync(configFile, config.replace(devDescriptors, `\${API_IMAGE:-${builtApiImage}}`));
console.log(
  `${path.relative(root, dist) || dist}/: ${modules.length} modules, ${pages.length} pages, ${assets.length} assets, API image; ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
