import { create } from "@bufbuild/protobuf";
import {
  GetRoutesResponseSchema,
  RouteRulesSchema,
  RoutingService,
  SetRoutesResponseSchema,
} from "../../gen/meshwork/routing/v1/routing_pb.js";
import type { Logger } from "pino";
import { registration, type ServiceRegistration } from "../server/serve.js";
import type { RouteTable } from "./route-table.js";

/**
 * meshwork.routing.v1.RoutingService over a process's route table: an
 * operator reads the rules in force and replaces them at run time (until the
 * routes file changes again). Rules the table refuses are InvalidArgument and
 * change nothing. Who may call it is the server's access policy's business
 * (operators only).
 */
export function createRoutingService(table: RouteTable, logger: Logger): ServiceRegistration {
  return registration(RoutingService, {
      getRoutes() {
        return create(GetRoutesResponseSchema, { rules: table.current, source: table.source });
      },
      setRoutes(request) {
        table.replace(request.rules ?? create(RouteRulesSchema), "rpc");
        logger.info({ targets: Object.keys(table.current.targets) }, "routing rules set by an operator");
        return create(SetRoutesResponseSchema, { rules: table.current });
      },
  });
}
