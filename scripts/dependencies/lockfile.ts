import { readFileSync } from "node:fs";

/** The fields of a package-lock.json (v2/v3) entry the dependency checks read. */
export interface LockEntry {
  readonly version?: string;
  /** The real package name, present only when the folder's name is an alias. */
  readonly name?: string;
  readonly resolved?: string;
  readonly integrity?: string;
  readonly license?: unknown;
  readonly hasInstallScript?: boolean;
  /** Shipped inside its parent's tarball: the parent's integrity covers it. */
  readonly inBundle?: boolean;
}

/** One installed package of the lock: where it goes, what it is, and its entry. */
export interface LockedPackage {
  /** Its key in `packages`, e.g. "node_modules/@grpc/grpc-js/node_modules/semver". */
  readonly path: string;
  /** The published name (an alias's real name, not its folder). */
  readonly name: string;
  readonly version: string;
  readonly entry: LockEntry;
}

/** "name@version at path" when the folder is nested or aliased, else "name@version". */
export function describePackage(pkg: LockedPackage): string {
  const plain = `node_modules/${pkg.name}`;
  return pkg.path === plain ? `${pkg.name}@${pkg.version}` : `${pkg.name}@${pkg.version} (${pkg.path})`;
}

/**
 * Every package a lockfile installs, from its `packages` map (lockfileVersion 2 or 3; npm 7 and
 * later write it), the project itself (key "") left out. Throws naming the file when it cannot
 * be read as such a lock.
 */
export function readLockfile(file: string): LockedPackage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: cannot read the lockfile: ${err instanceof Error ? err.message : String(err)}`);
  }
  const lock = parsed as { lockfileVersion?: unknown; packages?: unknown };
  if (typeof lock !== "object" || lock === null || (lock.lockfileVersion !== 2 && lock.lockfileVersion !== 3)) {
    throw new Error(`${file}: not a package-lock.json with lockfileVersion 2 or 3 (npm 7 and later write one)`);
  }
  if (typeof lock.packages !== "object" || lock.packages === null) {
    throw new Error(`${file}: the lockfile has no "packages" map`);
  }
  return Object.entries(lock.packages as Record<string, LockEntry>)
    .filter(([path]) => path !== "")
    .map(([path, entry]) => ({
      path,
      name: entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length),
      version: entry.version ?? "(no version)",
      entry,
    }));
}
