import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { ManifestError, parseServiceManifest, type ServiceManifest } from "./service-manifest.js";

/** Every catalogue entry of a repository, and where each was read from. */
export interface Catalogue {
  readonly services: readonly CatalogueEntry[];
}

export interface CatalogueEntry {
  readonly manifest: ServiceManifest;
  /** The service's folder, relative to the repository root: "services/orders", "gateway". */
  readonly folder: string;
}

/** The file name of a catalogue entry, in its service's folder. */
export const manifestFileName = "service.yaml";

/** The lowest port a new service may take; `make service` gives the next free one from here. */
export const firstServicePort = 50051;

/** The next port no catalogue entry has, from firstServicePort up. */
export function nextFreePort(catalogue: Catalogue): number {
  const taken = new Set(catalogue.services.map((s) => s.manifest.port));
  let port = firstServicePort;
  while (taken.has(port)) port++;
  return port;
}

/**
 * The folders that hold catalogue entries: each folder under services/ with a
 * service.yaml, and the gateway's own.
 */
export function catalogueFolders(root: string): string[] {
  const servicesDir = path.join(root, "services");
  const folders = existsSync(servicesDir)
    ? readdirSync(servicesDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(path.join(servicesDir, d.name, manifestFileName)))
        .map((d) => `services/${d.name}`)
        .sort()
    : [];
  return existsSync(path.join(root, "gateway", manifestFileName)) ? ["gateway", ...folders] : folders;
}

/**
 * Reads and validates every entry under `root`. Refuses (ManifestError,
 * naming the file) an entry whose name is not its folder's, a port another
 * entry has, or a dependency on a service the catalogue does not hold.
 */
export function loadCatalogue(root: string): Catalogue {
  const services = catalogueFolders(root).map((folder) => {
    const file = path.join(folder, manifestFileName);
    const manifest = parseServiceManifest(readFileSync(path.join(root, file), "utf8"), file);
    if (manifest.name !== path.basename(folder)) {
      throw new ManifestError(`${file}: name "${manifest.name}" is not its folder's, "${path.basename(folder)}"`);
    }
    return { manifest, folder };
  });
  const known = new Set(services.map((s) => s.manifest.name));
  for (const [i, { manifest, folder }] of services.entries()) {
    const other = services.findIndex((s) => s.manifest.port === manifest.port);
    if (other !== i) {
      throw new ManifestError(`${folder}/${manifestFileName}: port ${manifest.port} is ${services[other]!.manifest.name}'s already`);
    }
  }
  for (const { manifest, folder } of services) {
    for (const dependency of manifest.dependencies) {
      if (!known.has(dependency)) {
        throw new ManifestError(`${folder}/${manifestFileName}: dependencies: no service "${dependency}" in the catalogue`);
      }
    }
  }
  return { services };
}
