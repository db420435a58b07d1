import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { emptyFaultConfig } from "./fault-config.js";
import type { FaultInjector } from "./fault-injector.js";

/**
 * FaultService over one process's injector: GetFaults reads the rules in
 * force, SetFaults replaces them whole. A configuration with any problem is
 * refused with InvalidArgument naming them all, and nothing changes. Who may
 * call it is decided in front of it (the gateway's access policy: admin;
 * inside the mesh, the caller's identity), not here.
 */
export function faultService(injector: FaultInjector): ServiceImpl<typeof FaultService> {
  return {
    getFaults: () => ({ config: injector.config }),
    setFaults: (request) => {
      try {
        injector.set(request.config ?? emptyFaultConfig());
      } catch (err) {
        throw new ConnectError(`invalid fault configuration: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
      }
      return { config: injector.config };
    },
  };
}
