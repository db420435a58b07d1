import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import path from "node:path";

const pageDir = import.meta.dirname;

/** The mesh page: page.html for `GET /mesh`, the bundled page-app.ts for `GET /mesh/app.js`. */
export interface MeshPage {
  readonly html: string;
  readonly js: string;
}

/** Builds the page in memory, as the shop page is (gateway/web/bundle.ts). Call it once at startup. */
export async function bundleMeshPage(): Promise<MeshPage> {
  const [result, html] = await Promise.all([
    build({
      entryPoints: [path.join(pageDir, "page-app.ts")],
      absWorkingDir: pageDir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      legalComments: "none",
      charset: "utf8",
      write: false,
      outfile: "app.js",
      logLevel: "silent",
    }),
    readFile(path.join(pageDir, "page.html"), "utf8"),
  ]);
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  if (js === undefined) throw new Error("esbuild produced no JavaScript for gateway/mesh-page/page-app.ts");
  return { html, js: js.text };
}
