// Renders a kustomization the way `kustomize build` does, for the subset of
// kustomize that deploy/kubernetes uses, so that make test can validate the
// overlays offline (kubectl and kustomize are not installable here; no
// maintained npm package renders kustomizations). Any other kustomization
// field is refused by name rather than ignored, so an overlay cannot rely on
// something this renderer would silently drop.
//
// Supported: resources (files, or folders with a kustomization.yaml),
// namespace, labels (pairs, on metadata.labels only), images (newName,
// newTag), replicas, and patches with a target kind/name and a JSON 6902 patch
// (fast-json-patch applies it).
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object as YAML gives it. */
export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Record<string, unknown>;
};

const supported = new Set(["apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "patches"]);

interface Kustomization {
  resources?: string[];
  namespace?: string;
  labels?: { pairs: Record<string, string> }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: { target: { kind: string; name: string }; patch: string }[];
}

/** Every object `kustomize build dir` would print, in resource order. */
export function renderKustomization(dir: string): K8sObject[] {
  const file = path.join(dir, "kustomization.yaml");
  const k = parseDocuments(file)[0] as Kustomization & Record<string, unknown>;
  for (const field of Object.keys(k)) {
    if (!supported.has(field)) throw new Error(`${file}: ${field} is not supported by this renderer`);
  }
  const objects = (k.resources ?? []).flatMap((resource) => {
    const target = path.join(dir, resource);
    return statSync(target).isDirectory() ? renderKustomization(target) : (parseDocuments(target) as K8sObject[]);
  });
  for (const { pairs } of k.labels ?? []) {
    for (const object of objects) object.metadata.labels = { ...object.metadata.labels, ...pairs };
  }
  for (const object of objects) {
    if (k.namespace !== undefined) object.metadata.namespace = k.namespace;
  }
  for (const image of k.images ?? []) {
    for (const container of objects.flatMap(containersOf)) {
      const [name, tag] = splitImage(container.image);
      if (name !== image.name) continue;
      container.image = `${image.newName ?? name}:${image.newTag ?? tag ?? "latest"}`;
    }
  }
  for (const { name, count } of k.replicas ?? []) {
    const matches = objects.filter((o) => o.metadata.name === name && ["Deployment", "StatefulSet"].includes(o.kind));
    if (matches.length === 0) throw new Error(`${file}: replicas: no Deployment or StatefulSet ${name}`);
    for (const object of matches) (object.spec as Record<string, unknown>).replicas = count;
  }
  for (const { target, patch } of k.patches ?? []) {
    const index = objects.findIndex((o) => o.kind === target.kind && o.metadata.name === target.name);
    if (index === -1) throw new Error(`${file}: patches: no ${target.kind} ${target.name}`);
    const operations = parseAllDocuments(patch)[0]?.toJS() as Operation[];
    objects[index] = fastJsonPatch.applyPatch(objects[index]!, operations, true, false).newDocument;
  }
  return objects;
}

function parseDocuments(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return doc.toJS() as unknown;
  }).filter((doc) => doc !== null);
}

/** The containers (and init containers) of a workload's pod template. */
export function containersOf(object: K8sObject): ({ name: string; image: string } & Record<string, unknown>)[] {
  const pod = (object.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
  if (pod === undefined) return [];
  return [...((pod.initContainers as never[]) ?? []), ...((pod.containers as never[]) ?? [])];
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.lastIndexOf(":");
  return at > image.lastIndexOf("/") ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}
