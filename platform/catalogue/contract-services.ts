import { readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";

/** Every service of the repository's own contracts, from the generated code under gen/meshwork/. */
export async function contractServices(root: string): Promise<DescService[]> {
  const files = readdirSync(path.join(root, "gen", "meshwork"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith("_pb.ts"))
    .sort();
  const services: DescService[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(path.join(root, "gen", "meshwork", file)).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "service") {
        services.push(value as DescService);
      }
    }
  }
  return services;
}

/** A method's REST routes as the gateway labels them: "POST /v1/orders", primary rule and additional bindings. */
export function httpRoutesOf(method: DescMethod): string[] {
  if (!hasOption(method, http)) {
    return [];
  }
  const rule = getOption(method, http);
  return [rule, ...rule.additionalBindings].flatMap((binding) => {
    const pattern = binding.pattern;
    switch (pattern.case) {
      case "get":
      case "put":
      case "post":
      case "delete":
      case "patch":
        return [`${pattern.case.toUpperCase()} ${pattern.value}`];
      case "custom":
        return [`${pattern.value.kind.toUpperCase()} ${pattern.value.path}`];
      default:
        return [];
    }
  });
}
