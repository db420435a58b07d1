// NetworkPolicies from the mesh's call graph, so that the two cannot drift:
// default deny in both directions, then for each workload exactly the calls
// the graph allows (ingress from its callers on its port, egress to its
// callees on theirs), plus what every workload needs from outside the graph:
// DNS, NATS for the event producers and consumers, PostgreSQL for the
// services that own data. `make network-policies` writes the result to
// base/network-policies.yaml; make test checks it is fresh and that the
// rendered policies' graph equals the call graph.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { loadCatalogue } from "../../platform/catalogue/index.js";

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

/**
 * The call graph as the repository declares it: the service catalogue's
 * dependencies (services/<name>/service.yaml, checked against the clients
 * each main builds by the catalogue's tests).
 */
export function declaredCalls(root: string): Call[] {
  return loadCatalogue(root).services.flatMap(({ manifest }) =>
    manifest.dependencies.map((callee) => ({ caller: manifest.name, callee })),
  );
}

/** The input for this repository: the declared calls, and ports and clients read from the base manifests and mains. */
export function repositoryInput(root: string): NetworkPolicyInput {
  const base = path.join(root, "deploy/kubernetes/base");
  const ports: Record<string, number> = {};
  for (const file of readdirSync(base).filter((f) => f.endsWith(".yaml") && f !== "network-policies.yaml")) {
    for (const doc of parseAllDocuments(readFileSync(path.join(base, file), "utf8"))) {
      const object = doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: { ports?: { containerPort: number }[] }[] } } } };
      const port = object?.spec?.template?.spec?.containers?.[0]?.ports?.[0]?.containerPort;
      if (object?.kind === "Deployment" && object.metadata?.name !== undefined && port !== undefined) ports[object.metadata.name] = port;
    }
  }
  const mains = Object.keys(ports).map((name) => ({
    name,
    source: readFileSync(path.join(root, name === "gateway" ? "gateway/main.ts" : `services/${name}/main.ts`), "utf8"),
  }));
  return {
    calls: declaredCalls(root),
    ports,
    natsClients: mains.filter((m) => m.source.includes("eventBusFromEnv(")).map((m) => m.name),
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
    "# mesh's call graph; do not edit. make test fails when it is stale.",
  ].join("\n");
  return `${header}\n${networkPolicies(input).map((p) => stringify(p, { flowCollectionPadding: true })).join("---\n")}`;
}
