import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { DescService } from "@bufbuild/protobuf";

/**
 * What a method needs:
 * - "public": anyone, with or without a token;
 * - "customer": a valid bearer token, whose subject is the customer;
 * - "admin": a valid bearer token whose scope includes `adminScope`;
 * - "deny": nobody. Every method the policy file does not list.
 */
export type Requirement = "public" | "customer" | "admin" | "deny";

/** The levels a policy file may give a method ("deny" is what omission means). */
const levels: ReadonlySet<string> = new Set(["public", "customer", "admin"]);

/** The policy shipped with the gateway, beside this module. */
export const defaultAccessPolicyFile = fileURLToPath(new URL("./access-policy.json", import.meta.url));

export interface AccessPolicy {
  /**
   * The requirement of a method, by full name:
   * "meshwork.inventory.v1.InventoryService/GetItem". The Connect/gRPC path
   * form with a leading slash is accepted too. Unlisted -> "deny".
   */
  requirementFor(methodFullName: string): Requirement;
}

/**
 * Reads and validates a policy file: `{ "methods": { "<service>/<Method>": level } }`.
 * Throws at start, naming the offending entry, on an unknown level or on a
 * method that none of `services` declares (a typo or a renamed RPC would
 * otherwise silently fall back to deny, or worse, leave a stale grant).
 */
export function loadAccessPolicy(file: string, services: readonly DescService[]): AccessPolicy {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`access policy ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return createAccessPolicy(document, services, file);
}

/** As `loadAccessPolicy`, from an already parsed document; `source` names it in errors. */
export function createAccessPolicy(document: unknown, services: readonly DescService[], source = "access policy"): AccessPolicy {
  const fail = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  if (!isObject(document) || !isObject(document["methods"])) {
    return fail('expected an object with a "methods" object');
  }
  for (const key of Object.keys(document)) {
    if (key !== "methods" && key !== "$comment") {
      fail(`unknown top-level field "${key}"`);
    }
  }
  const known = new Set(services.flatMap((service) => service.methods.map((method) => `${service.typeName}/${method.name}`)));
  const requirements = new Map<string, Requirement>();
  for (const [method, level] of Object.entries(document["methods"])) {
    if (typeof level !== "string" || !levels.has(level)) {
      fail(`${method}: unknown level ${JSON.stringify(level)} (expected public, customer or admin)`);
    }
    if (!known.has(method)) {
      fail(`${method}: no such method in ${services.map((s) => s.typeName).join(", ") || "the given services"}`);
    }
    requirements.set(method, level as Requirement);
  }
  return {
    requirementFor(methodFullName) {
      const name = methodFullName.startsWith("/") ? methodFullName.slice(1) : methodFullName;
      return requirements.get(name) ?? "deny";
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
