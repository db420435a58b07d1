import { createFileRegistry, fromBinary, hasOption, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { AccessPolicy } from "../auth/access-policy.js";
import type { ClientTarget } from "../../mesh/index.js";
import type { Upstream } from "../server/upstream-call.js";
import type { GatewayConfig } from "./gateway-config.js";

/**
 * The services of a config, from its descriptors: each upstream's services
 * looked up in the image. Throws, naming them all, for services the image
 * does not hold. The options of an image's methods (google.api.http,
 * protovalidate rules, idempotency levels) are read as from generated code.
 * `calls` applies to every upstream: a default deadline (an upstream's
 * `timeout_ms` wins) and its bulkhead (the mesh's default when unset).
 */
export function frontedServices(
  config: GatewayConfig,
  calls: { readonly defaultTimeoutMs?: number; readonly bulkhead?: ClientTarget["bulkhead"] } = {},
): Upstream[] {
  let registry;
  try {
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(config.descriptorsFile)));
  } catch (err) {
    throw new Error(
      `gateway config ${config.source}: cannot read the descriptors ${config.descriptorsFile} (a buf image with imports: buf build proto -o FILE): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const missing: string[] = [];
  const upstreams: Upstream[] = [];
  for (const u of config.upstreams) {
    const timeoutMs = u.timeoutMs ?? calls.defaultTimeoutMs;
    const target = {
      name: u.name,
      endpoints: u.endpoints,
      ...(u.versions === undefined ? {} : { versions: u.versions }),
      ...(timeoutMs === undefined ? {} : { timeouts: { defaultTimeoutMs: timeoutMs } }),
      ...(calls.bulkhead === undefined ? {} : { bulkhead: calls.bulkhead }),
    };
    for (const name of u.services) {
      const service = registry.getService(name);
      if (service === undefined) {
        missing.push(name);
      } else {
        upstreams.push({ service, target });
      }
    }
  }
  if (missing.length > 0) {
    throw new Error(`gateway config ${config.source}: not in the descriptors ${config.descriptorsFile}: ${missing.join(", ")}`);
  }
  return upstreams;
}

/**
 * Refuses to front a service that has no REST route (no method with a
 * google.api.http rule) or no line in the access policy (every method
 * denied): it would be configured but unreachable, which is a mistake, not a
 * choice. The error names every such service and what it lacks.
 */
export function checkFrontable(config: GatewayConfig, services: readonly DescService[], policy: AccessPolicy): void {
  const problems = services.flatMap((service) => {
    const lacks = [
      service.methods.some((m) => hasOption(m, http)) ? undefined : "no HTTP rules (google.api.http)",
      service.methods.some((m) => policy.requirementFor(`${service.typeName}/${m.name}`) !== "deny")
        ? undefined
        : "no lines in the access policy",
    ].filter((x) => x !== undefined);
    return lacks.length === 0 ? [] : [`${service.typeName} has ${lacks.join(" and ")}`];
  });
  if (problems.length > 0) {
    throw new Error(`gateway config ${config.source}: refusing to front ${problems.join("; ")}`);
  }
}
