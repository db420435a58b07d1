import { loadPage, type BundledPage, type PageSource } from "../web/bundle.js";

/** The mesh page: page.html for `GET /mesh`, the bundled page-app.ts for `GET /mesh/app.js`. */
export type MeshPage = BundledPage;

/** The mesh page's sources: page-app.ts, loaded by page.html. */
export const meshPageSource: PageSource = { dir: import.meta.dirname, entry: "page-app.ts", htmlFile: "page.html" };

/** The mesh page, built by `make build` or bundled now, as the shop page is. Call it once at startup. */
export function bundleMeshPage(): Promise<MeshPage> {
  return loadPage(meshPageSource);
}
