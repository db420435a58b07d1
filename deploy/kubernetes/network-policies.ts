// NetworkPolicies from the contracts' declared callers, so that the two
// cannot drift: each method's meshwork.access.v1 callers (mesh/access reads
// them from the generated descriptors, as serve() enforces them), placed on
// the workloads that serve it (platform/catalogue/contract-callers.ts), on
// the bus the manifests run (NATS: nobody serves EventLogService). Default
// deny in both directions, then for each workload exactly the calls the graph
// allows (ingress from its callers on its port, egress to its callees on
// theirs), plus what every workload needs from outside the graph: DNS, NATS
// for the event producers and consumers, PostgreSQL for the services that own
// data. Operators (`operators: true`) are not pods and get no rule: they
// reach a process with `kubectl port-forward`, which enters the pod's network
// namespace from its node instead of crossing the pod network the policies
// filter, and then present an operator certificate to the mesh's mTLS.
// `make network-policies` writes the result to base/network-policies.yaml;
// make test checks it is fresh and that the rendered policies' graph equals
// the contracts' caller graph.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { loadCatalogue } from "../../platform/catalogue/index.js";
import { mainCalls } from "../../platform/catalogue/code-facts.js";
import { contractCallGraph, type EventBusKind } from "../../platform/catalogue/contract-callers.js";
import { contractServices } from "../../platform/catalogue/contract-services.js";

/** One allowed call: `caller` opens connections to `callee`. */
export interface Call {
  readonly caller: string;
  readonly callee: string;
}

export interface NetworkPolicyInput {
  /** Who may call whom. */
  readonly calls: readonly Call[];
  /** Each workload's serving port (its Deployment's first container port). */
  readonly ports: Readonly<Record<string, number>>;
  /** Workloads that publish or consume events, and so talk to NATS. */
  readonly natsClients: readonly string[];
  /** Workloads that own a database, and so talk to PostgreSQL. */
  readonly databaseClients: readonly string[];
  /** Workloads that accept connections from anywhere (the edge). */
  readonly public: readonly string[];
}

/** The label every pod of a workload carries, that the policies select on. */
export const workloadLabel = "meshwork.dev/workload";
const nats = { name: "nats", client: 4222, cluster: 6222 };
const postgresPort = 5432;

/** The base's objects, but the generated policies. */
function baseObjects(root: string): Record<string, any>[] {
  const base = path.join(root, "deploy/kubernetes/base");
  return readdirSync(base)
    .filter((f) => f.endsWith(".yaml") && f !== "network-policies.yaml")
    .sort()
    .flatMap((file) => parseAllDocuments(readFileSync(path.join(base, file), "utf8")).map((doc) => doc.toJS() as Record<string, any>))
    .filter((o) => o !== null && typeof o === "object");
}

/** The bus the base runs the processes on: NATS when its shared ConfigMap sets NATS_URL (config.yaml). */
export function manifestsBus(root: string): EventBusKind {
  const common = baseObjects(root).find((o) => o["kind"] === "ConfigMap" && o["metadata"]?.name === "meshwork-common");
  return typeof common?.["data"]?.NATS_URL === "string" && common["data"].NATS_URL !== "" ? "nats" : "embedded";
}

/**
 * The calls the contracts allow between the workloads, on the manifests' bus:
 * caller -> callee pairs of platform/catalogue's contract caller graph.
 * Refuses a graph the catalogue cannot place whole.
 */
export async function declaredCalls(root: string): Promise<Call[]> {
  const graph = contractCallGraph(root, loadCatalogue(root), await contractServices(root), manifestsBus(root));
  if (graph.unplaced.length > 0) {
    throw new Error(`the contracts' caller graph is incomplete:\n${graph.unplaced.join("\n")}`);
  }
  const pairs = new Map(graph.calls.map((c) => [`${c.caller} -> ${c.callee}`, { caller: c.caller, callee: c.callee }]));
  return [...pairs.values()];
}

/** The input for this repository: the contracts' calls, and ports and clients read from the base manifests and mains. */
export async function repositoryInput(root: string): Promise<NetworkPolicyInput> {
  const ports: Record<string, number> = {};
  for (const object of baseObjects(root)) {
    const port = object["spec"]?.template?.spec?.containers?.[0]?.ports?.[0]?.containerPort as number | undefined;
    if (object["kind"] === "Deployment" && object["metadata"]?.name !== undefined && port !== undefined) ports[object["metadata"].name as string] = port;
  }
  const mains = Object.keys(ports).map((name) => {
    const folder = name === "gateway" ? "gateway" : `services/${name}`;
    return { name, folder, source: readFileSync(path.join(root, folder, "main.ts"), "utf8") };
  });
  return {
    calls: await declaredCalls(root),
    ports,
    natsClients: mains.filter((m) => mainCalls(root, m.folder, "eventBusFromEnv")).map((m) => m.name),
    databaseClients: mains.filter((m) => /\bopen\w*Store\(/.test(m.source)).map((m) => m.name),
    public: ["gateway"],
  };
}

const selector = (workload: string) => ({ podSelector: { matchLabels: { [workloadLabel]: workload } } });
const tcp = (port: number) => ({ protocol: "TCP", port });

/** The NetworkPolicy objects for `input`, in a stable order. */
export function networkPolicies(input: NetworkPolicyInput): Record<string, unknown>[] {
  const workloads = Object.keys(input.ports).sort();
  for (const { caller, callee } of input.calls) {
    for (const name of [caller, callee]) {
      if (input.ports[name] === undefined) throw new Error(`call ${caller} -> ${callee}: no Deployment ${name} in the base`);
    }
  }
  const policy = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name },
    spec,
  });
  const perWorkload = workloads.map((workload) => {
    const callers = input.calls.filter((c) => c.callee === workload).map((c) => c.caller).sort();
    const callees = input.calls.filter((c) => c.caller === workload).map((c) => c.callee).sort();
    const port = input.ports[workload]!;
    const ingress = input.public.includes(workload)
      ? [{ ports: [tcp(port)] }]
      : callers.length === 0 ? [] : [{ from: callers.map(selector), ports: [tcp(port)] }];
    const egress = [
      ...callees.map((callee) => ({ to: [selector(callee)], ports: [tcp(input.ports[callee]!)] })),
      ...(input.natsClients.includes(workload) ? [{ to: [selector(nats.name)], ports: [tcp(nats.client)] }] : []),
      // PostgreSQL is outside the cluster's pods (postgres.yaml): any address, its port only.
      ...(input.databaseClients.includes(workload) ? [{ ports: [tcp(postgresPort)] }] : []),
    ];
    return policy(workload, { podSelector: selector(workload).podSelector, policyTypes: ["Ingress", "Egress"], ingress, egress });
  });
  return [
    policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    policy("dns", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{
        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
        ports: [{ protocol: "UDP", port: 53 }, tcp(53)],
      }],
    }),
    ...perWorkload,
    policy(nats.name, {
      podSelector: selector(nats.name).podSelector,
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        { from: [...input.natsClients].sort().map(selector), ports: [tcp(nats.client)] },
        { from: [selector(nats.name)], ports: [tcp(nats.cluster)] },
      ],
      egress: [{ to: [selector(nats.name)], ports: [tcp(nats.cluster)] }],
    }),
  ];
}

/** The file make network-policies writes. */
export function networkPoliciesYaml(input: NetworkPolicyInput): string {
  const header = [
    "# Generated by `make network-policies` (deploy/kubernetes/network-policies.ts) from the",
    "# contracts' declared callers (meshwork.access.v1 callers and default_callers in proto/),",
    "# the same declarations serve() enforces; do not edit. make test fails when it is stale.",
    "# Default deny; each workload admits exactly the workloads a method it serves names as",
    "# callers. Operators (operators: true) are not pods and no rule admits them: they reach a",
    "# process with `kubectl port-forward` (RBAC pods/portforward), which enters the pod's",
    "# network namespace from its node rather than crossing the pod network these policies",
    "# filter, and present an operator certificate (make cert NAME=<operator>) to its mTLS.",
  ].join("\n");
  return `${header}\n${networkPolicies(input).map((p) => stringify(p, { flowCollectionPadding: true })).join("---\n")}`;
}
