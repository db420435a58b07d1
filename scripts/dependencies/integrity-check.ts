import { describePackage, type LockedPackage } from "./lockfile.js";

/**
 * Every package's tarball is pinned by an integrity hash: npm refuses a download whose bytes
 * differ, whichever registry served it. lockfile-lint checks that each hash present is sha512
 * but passes an entry with none, so the absence is checked here. A bundled package comes
 * inside its parent's tarball and carries no hash of its own.
 */
export function checkIntegrityPresent(packages: readonly LockedPackage[]): string[] {
  return packages
    .filter((pkg) => pkg.entry.inBundle !== true && pkg.entry.integrity === undefined)
    .map((pkg) => `${describePackage(pkg)} has no integrity hash`);
}
