import { bundlePage, type BundledPage } from "../web/bundle.js";

/** The mesh page: page.html for `GET /mesh`, the bundled page-app.ts for `GET /mesh/app.js`. */
export type MeshPage = BundledPage;

/** Builds the page in memory, as the shop page is. Call it once at startup. */
export function bundleMeshPage(): Promise<MeshPage> {
  return bundlePage(import.meta.dirname, "page-app.ts", "page.html");
}
