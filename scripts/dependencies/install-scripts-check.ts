import { describePackage, type LockedPackage } from "./lockfile.js";

/**
 * An install script runs with the installing user's rights on every `npm ci`, in CI and on
 * every developer's machine: only packages on the allowlist may have one. A package that gains
 * one (a new dependency, or a new version of an old one) fails naming it, and so does an
 * allowlist entry no locked package needs any more, so the list says what runs today.
 */
export function checkInstallScripts(packages: readonly LockedPackage[], allowed: ReadonlyMap<string, string>): string[] {
  const withScripts = packages.filter((pkg) => pkg.entry.hasInstallScript === true);
  const unlisted = withScripts
    .filter((pkg) => !allowed.has(pkg.name))
    .map((pkg) => `${describePackage(pkg)} runs an install script and is not on the allowlist`);
  const needed = new Set(withScripts.map((pkg) => pkg.name));
  const stale = [...allowed.keys()]
    .filter((name) => !needed.has(name))
    .map((name) => `${name} is on the install-script allowlist but no locked package by that name runs one: remove the entry`);
  return [...unlisted, ...stale];
}
