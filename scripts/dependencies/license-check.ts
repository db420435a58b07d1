import parseSpdx from "spdx-expression-parse";
import { describePackage, type LockedPackage } from "./lockfile.js";

/**
 * Whether an SPDX expression's terms can be met with allowed licenses only: every side of an
 * AND, at least one side of an OR. A single license counts with its `+` and its `WITH`
 * exception as written ("GPL-2.0+", "GPL-2.0-only WITH Classpath-exception-2.0"), so an
 * exception is allowed by name, never implied by its license.
 */
export function licenseAllowed(info: parseSpdx.Info, allowed: ReadonlyMap<string, string>): boolean {
  if ("conjunction" in info) {
    return info.conjunction === "and"
      ? licenseAllowed(info.left, allowed) && licenseAllowed(info.right, allowed)
      : licenseAllowed(info.left, allowed) || licenseAllowed(info.right, allowed);
  }
  const id = `${info.license}${info.plus === true ? "+" : ""}${info.exception === undefined ? "" : ` WITH ${info.exception}`}`;
  return allowed.has(id);
}

/**
 * Every locked package's license (npm copies each package's `license` into the lock) is an
 * SPDX expression met by the allowlist's ids. A package with no license, with one that is not
 * an SPDX expression ("SEE LICENSE IN ..."), or with one outside the list fails naming it:
 * a person reads its terms and decides.
 */
export function checkLicenses(packages: readonly LockedPackage[], allowed: ReadonlyMap<string, string>): string[] {
  return packages.flatMap((pkg) => {
    const license = pkg.entry.license;
    if (typeof license !== "string" || license.trim() === "") {
      return [`${describePackage(pkg)} declares no license`];
    }
    let info: parseSpdx.Info;
    try {
      info = parseSpdx(license);
    } catch {
      return [`${describePackage(pkg)} has license "${license}", which is not an SPDX expression`];
    }
    return licenseAllowed(info, allowed) ? [] : [`${describePackage(pkg)} has license "${license}", which the allowlist does not allow`];
  });
}
