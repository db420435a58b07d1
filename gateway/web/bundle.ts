import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import path from "node:path";

const webDir = import.meta.dirname;

/** The web page the gateway serves: index.html for `GET /`, the bundled app.ts for `GET /app.js`. */
export interface WebApp {
  /** index.html, to serve as text/html; charset=utf-8. */
  html: string;
  /** app.ts and its dependencies as one ES module, to serve as text/javascript; charset=utf-8. */
  js: string;
}

/**
 * Builds the page in memory (nothing is written to disk): app.ts bundled by
 * esbuild for the browser, and index.html, which loads it from /app.js.
 * Call it once at startup; it takes a few hundred milliseconds.
 */
export async function bundleWebApp(): Promise<WebApp> {
  const [result, html] = await Promise.all([
    build({
      entryPoints: [path.join(webDir, "app.ts")],
      absWorkingDir: webDir,
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
    readFile(path.join(webDir, "index.html"), "utf8"),
  ]);
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  if (js === undefined) throw new Error("esbuild produced no JavaScript for gateway/web/app.ts");
  return { html, js: js.text };
}
