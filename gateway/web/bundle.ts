import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

/** A browser page built in memory: its HTML and its one bundled script. */
export interface BundledPage {
  /** The HTML file, to serve as text/html; charset=utf-8. */
  readonly html: string;
  /** The entry script and its dependencies as one ES module, to serve as text/javascript; charset=utf-8. */
  readonly js: string;
}

/** Where a page's sources are: its folder, its entry script and the HTML file that loads it. */
export interface PageSource {
  readonly dir: string;
  readonly entry: string;
  readonly htmlFile: string;
}

/** The web page the gateway serves: index.html for `GET /`, the bundled app.ts for `GET /app.js`. */
export type WebApp = BundledPage;

/** The shop page's sources: app.ts, loaded by index.html from /app.js. */
export const webAppSource: PageSource = { dir: import.meta.dirname, entry: "app.ts", htmlFile: "index.html" };

/**
 * The file `make build` writes a page's bundle to, beside its HTML in dist/
 * (`app.ts` -> `app.bundle.js`), so that the built gateway serves it as it is.
 */
export function builtBundleName(entry: string): string {
  return entry.replace(/\.ts$/, ".bundle.js");
}

/**
 * Bundles a page in memory (nothing is written to disk): the entry bundled by
 * esbuild for the browser, minified, and the HTML file, which loads it. It
 * takes a few hundred milliseconds. esbuild is a development dependency, so
 * it is imported here only: the built gateway never calls this.
 */
export async function bundlePage({ dir, entry, htmlFile }: PageSource): Promise<BundledPage> {
  const { build } = await import("esbuild");
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

/**
 * A page as `make build` left it (its bundle beside its HTML, in dist/), or,
 * when there is none (running from source under tsx), bundled now. Call it
 * once at startup.
 */
export async function loadPage(source: PageSource): Promise<BundledPage> {
  const built = path.join(source.dir, builtBundleName(source.entry));
  if (!existsSync(built)) return bundlePage(source);
  const [html, js] = await Promise.all([
    readFile(path.join(source.dir, source.htmlFile), "utf8"),
    readFile(built, "utf8"),
  ]);
  return { html, js };
}

/** The shop page, built or bundled now (see `loadPage`). */
export function bundleWebApp(): Promise<WebApp> {
  return loadPage(webAppSource);
}
