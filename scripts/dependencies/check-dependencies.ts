import { readAllowlist } from "./allowlist.js";
import { checkInstallScripts } from "./install-scripts-check.js";
import { checkIntegrityPresent } from "./integrity-check.js";
import { checkLicenses } from "./license-check.js";
import { readLockfile } from "./lockfile.js";
import { registryHost, runLockfileLint } from "./lockfile-lint.js";

/** One check's verdict: what it saw when it passed, or each finding, naming the package. */
export interface DependencyCheck {
  readonly name: "lockfile" | "install scripts" | "licenses";
  readonly passed: string;
  readonly findings: readonly string[];
}

/**
 * The lockfile (integrity hashes, and lockfile-lint on what the entries carry), the install
 * scripts and the licenses of every package of `lockfile`, against the allowlist file.
 * Throws naming the file when either cannot be read.
 */
export async function checkDependencies(lockfile: string, allowlistFile: string): Promise<DependencyCheck[]> {
  const packages = readLockfile(lockfile);
  const allowlist = readAllowlist(allowlistFile);
  const resolved = packages.filter((pkg) => pkg.entry.resolved !== undefined).length;
  const scripted = [...new Set(packages.filter((pkg) => pkg.entry.hasInstallScript === true).map((pkg) => pkg.name))].sort();
  return [
    {
      name: "lockfile",
      passed: `${packages.length} packages, each with a sha512 integrity hash; ` +
        (resolved === 0
          ? "no resolved URLs (written with omit-lockfile-registry-resolved: npm fetches from its configured registry, and the hash pins the bytes)"
          : `${resolved} resolved URLs, all https on ${registryHost}`),
      findings: [...checkIntegrityPresent(packages), ...(await runLockfileLint(lockfile))],
    },
    {
      name: "install scripts",
      passed: `${scripted.length} packages run one, each on the allowlist: ${scripted.join(", ")}`,
      findings: checkInstallScripts(packages, allowlist.installScripts),
    },
    {
      name: "licenses",
      passed: `${packages.length} packages, each under licenses the allowlist allows`,
      findings: checkLicenses(packages, allowlist.licenses),
    },
  ];
}
