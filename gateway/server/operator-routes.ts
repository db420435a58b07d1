import { Code } from "@connectrpc/connect";
import type { HttpRoute } from "../../mesh/index.js";
import { authorize } from "../auth/authorize.js";
import type { Principal } from "../auth/principal.js";
import { GatewayError } from "../http/gateway-error.js";
import { methodNotAllowedStatus } from "../http/http-status.js";
import type { EdgeAdmission } from "./edge-admission.js";
import type { GatewayRequest, GatewayResponse } from "./gateway-request.js";
import { splitTarget } from "./request-target.js";
import { writeError } from "./write-error.js";

/**
 * A route for operators only; it is given the operator the bearer token
 * speaks for (e.g. to count that operator's open streams). Returns false when
 * it does not answer the request's method.
 */
export type OperatorRoute = (req: GatewayRequest, res: GatewayResponse, operator: Principal) => boolean;

/** Paths (without the query) an operator route answers, whatever the method. */
export interface OperatorEndpoint {
  readonly paths: readonly string[];
  readonly route: OperatorRoute;
}

/**
 * The ops pages' data (/metrics, /mesh/status.json, /mesh/stream: internal
 * URLs, error rates, breaker states, other customers' failed requests) for
 * operators only (docs/security.md): one HttpRoute that claims exactly the
 * endpoints' paths and admits a request as every other one is
 * (edge-admission.ts: the address's bucket has already been taken by the
 * server; then the bearer token and the caller's bucket), then requires the
 * admin scope. No token or an invalid one: 401; a valid token without the
 * scope: 403; the caller's bucket empty: 429. Nothing is read or computed
 * before that.
 */
export function operatorOnly(admission: EdgeAdmission, endpoints: readonly OperatorEndpoint[]): HttpRoute {
  const routes = new Map(endpoints.flatMap((endpoint) => endpoint.paths.map((p) => [p, endpoint.route] as const)));
  return (req, res) => {
    const route = routes.get(splitTarget(req.url ?? "/").pathname);
    if (route === undefined) {
      return false;
    }
    admission
      .admit(req.headers.authorization, admission.addressOf(req))
      .then((admitted) => {
        for (const [name, value] of Object.entries(admitted.headers)) {
          res.setHeader(name, value);
        }
        const operator = authorize("admin", admitted.principal)!;
        if (!route(req, res, operator)) {
          throw new GatewayError(`${req.method ?? ""} is not allowed here`, Code.Unimplemented, methodNotAllowedStatus, { allow: "GET" });
        }
      })
      .catch((err: unknown) => writeError(res, err));
    return true;
  };
}
