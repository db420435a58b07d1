import type { DescFile, DescMethodUnary, DescService } from "@bufbuild/protobuf";

/** Looks up the unary methods contracts name ("meshwork.inventory.v1.InventoryService" + "GetItem"). */
export interface ServiceRegistry {
  /** The method, or an Error naming what is missing. */
  method(service: string, method: string): DescMethodUnary;
}

/** A registry of the generated services (or whole generated files) passed in, e.g. from gen/. */
export function createServiceRegistry(descriptors: readonly (DescService | DescFile)[]): ServiceRegistry {
  const services = new Map<string, DescService>();
  for (const descriptor of descriptors) {
    for (const service of descriptor.kind === "file" ? descriptor.services : [descriptor]) {
      services.set(service.typeName, service);
    }
  }
  return {
    method(serviceName, methodName) {
      const service = services.get(serviceName);
      if (service === undefined) {
        throw new Error(`service ${serviceName} is not in the registry (known: ${[...services.keys()].join(", ")})`);
      }
      const method = service.methods.find((m) => m.name === methodName);
      if (method === undefined) {
        throw new Error(`${serviceName} has no method ${methodName}`);
      }
      if (method.methodKind !== "unary") {
        throw new Error(`${serviceName}/${methodName} is ${method.methodKind}; contracts cover unary methods only`);
      }
      return method as DescMethodUnary;
    },
  };
}
