/**
 * REST/JSON transcoding for the edge gateway, driven by the google.api.http
 * options of the contracts: match a request to a route, build the request
 * message, render the response.
 */
export { buildRouteTable, type RouteMatch, type RouteTable } from "./route-table.js";
export type { Route, RouteBody, BoundVariable } from "./route.js";
export { buildRequest } from "./request-message.js";
export { renderResponse } from "./response-body.js";
export { parsePathTemplate, type PathTemplate } from "./path-template.js";
