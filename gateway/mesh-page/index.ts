// The gateway's live mesh page: what main wires.
export { StatusCollector } from "./status-collector.js";
export type { LocalProcess, MeshService, StatusCollectorOptions } from "./status-collector.js";
export { meshRoutes, meshStatusPath, meshStreamPath } from "./mesh-routes.js";
export type { MeshRoutes, MeshRoutesOptions } from "./mesh-routes.js";
export { bundleMeshPage, meshPageSource } from "./page-bundle.js";
export type { MeshPage } from "./page-bundle.js";
export { defaultMeshServices, parseMeshServices } from "./mesh-services.js";
export type { MeshSnapshot } from "./mesh-snapshot.js";
