// Progressive delivery inside the mesh: versions of a target, rules that
// spread calls between them, and where the rules come from.
export { chooseVersion, cohortHash, type RouteReason, type VersionChoice } from "./choose-version.js";
export { readRouteFile, watchRouteFile, type RouteFileWatch } from "./route-file.js";
export { RouteTable, type CompiledRoute, type RoutedTarget } from "./route-table.js";
export { createRoutingService } from "./routing-service.js";
export { createVersionedTransport, mirrorHeader, routeChoiceKey } from "./versioned-transport.js";
