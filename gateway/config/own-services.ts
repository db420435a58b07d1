import type { DescService } from "@bufbuild/protobuf";
import { FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";

/**
 * Services the gateway answers in its own process rather than fronting:
 * FaultService, for the faults of its own upstream calls, served only when
 * MESH_FAULTS is set. The access policy may name their methods whether or not
 * they are served.
 */
export const ownServices: readonly DescService[] = [FaultService];
