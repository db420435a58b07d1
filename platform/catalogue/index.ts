// The service catalogue: one service.yaml per service, read and validated.
export { catalogueFolders, firstServicePort, loadCatalogue, manifestFileName, nextFreePort } from "./load-catalogue.js";
export type { Catalogue, CatalogueEntry } from "./load-catalogue.js";
export { ManifestError, parseServiceManifest } from "./service-manifest.js";
export type { ServiceManifest, Sli, SliSubject, Slo } from "./service-manifest.js";
