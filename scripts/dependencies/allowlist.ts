import { readFileSync } from "node:fs";

/**
 * What a dependency may do, decided by a person and kept in the repo
 * (scripts/dependency-allowlist.json), each entry with its reason.
 */
export interface DependencyAllowlist {
  /** Package name -> why it may run a script at install time (preinstall, install, postinstall). */
  readonly installScripts: ReadonlyMap<string, string>;
  /** SPDX license id -> why it is acceptable. */
  readonly licenses: ReadonlyMap<string, string>;
}

function reasons(file: string, value: unknown, field: string): Map<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${file}: "${field}" must be an object of name -> reason`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [name, reason] of entries) {
    if (typeof reason !== "string" || reason.trim() === "") {
      throw new Error(`${file}: "${field}" entry "${name}" needs a reason (a non-empty string)`);
    }
  }
  return new Map(entries as [string, string][]);
}

/** Reads and validates the allowlist; throws naming the file and the entry it cannot accept. */
export function readAllowlist(file: string): DependencyAllowlist {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: cannot read the allowlist: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { installScripts, licenses } = (parsed ?? {}) as { installScripts?: unknown; licenses?: unknown };
  return { installScripts: reasons(file, installScripts, "installScripts"), licenses: reasons(file, licenses, "licenses") };
}
