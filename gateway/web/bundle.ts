import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import path from "node:path";

/** A browser page built in memory: its HTML and its one bundled script. */
export interface BundledPage {
  /** The HTML file, to serve as text/html; charset=utf-8. */
  readonly html: string;
  /** The entry script and its dependencies as one ES module, to serve as text/javascript; charset=utf-8. */
  readonly js: string;
}

/** The web page the gateway serves: index.html for `GET /`, the bundled app.ts for `GET /app.js`. */
export type WebApp = BundledPage;

/**
 * Builds a page of `dir` in memory (nothing is written to disk): `entry`
 * bundled by esbuild for the browser, minified, and `htmlFile`, which loads
 * it. Call it once at startup; it takes a few hundred milliseconds.
 */
export async function bundlePage(dir: string, entry: string, htmlFile: string): Promise<BundledPage> {
  const [result, html] = await Promise.all([
    build({
      entryPoints: [path.join(dir, entry)],
      absWorkingDir: dir,
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
    readFile(path.join(dir, htmlFile), "utf8"),
  ]);
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  if (js === undefined) throw new Error(`esbuild produced no JavaScript for ${path.join(dir, entry)}`);
  return { html, js: js.text };
}

/** The shop page: app.ts bundled, and index.html, which loads it from /app.js. */
export function bundleWebApp(): Promise<WebApp> {
  return bundlePage(import.meta.dirname, "app.ts", "index.html");
}
