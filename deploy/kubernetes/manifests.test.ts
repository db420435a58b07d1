// The Kubernetes manifests, validated offline (no cluster runs here): both
// overlays rendered (render/kustomize.ts), every object validated against the
// Kubernetes schemas (kubernetes-models) and checked for unknown fields
// (render/strict-fields.ts), then the project's policies: probes, limits and
// the hardened securityContext on every container; shutdown timings that fit
// the grace period; every variable a main reads set or safely defaulted, and
// every variable set read; Services that select pods and name their ports;
// the NetworkPolicy graph equal to the contracts' caller graph (computed here
// from the descriptors), and the committed policies fresh.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { envReadsOf, isMachineLocal } from "./render/env-reads.js";
import { containersOf, renderKustomization, type K8sObject } from "./render/kustomize.js";
import { modelModule, StrictFieldChecker } from "./render/strict-fields.js";
import type { DescService } from "@bufbuild/protobuf";
import { authDevFallbacks } from "../../gateway/auth/auth-dev-fallbacks.js";
import { declaredCallers } from "../../mesh/access/declared-callers.js";
import { runtimeDevFallbacks } from "../../mesh/process/production-mode.js";
import { contractServices } from "../../platform/catalogue/contract-services.js";
import { natsClusterConfig, natsConfigMapYaml, repositoryNatsOptions } from "./nats-config.js";
import { manifestsBus, networkPoliciesYaml, repositoryInput, workloadLabel, type Call } from "./network-policies.js";

const root = path.resolve(import.meta.dirname, "../..");
const overlays = ["dev", "production"] as const;
const rendered = Object.fromEntries(
  overlays.map((o) => [o, renderKustomization(path.join(import.meta.dirname, "overlays", o))]),
) as Record<(typeof overlays)[number], K8sObject[]>;
const all = overlays.flatMap((o) => rendered[o].map((object) => ({ overlay: o, object })));
const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const workloadsOf = (objects: K8sObject[]) => objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
type Container = Record<string, any>;
const podSpecOf = (o: K8sObject) => (o.spec as any).template.spec as Record<string, any>;
// The variables the image sets (deploy/image/build.sh's buildah config).
const imageEnv = new Set(["NODE_ENV", "HOST", "DATA_DIR"]);
// Set in the manifests ahead of the code that reads them: each must not be
// read yet (when it is, it leaves this list and the checks above apply).
const pendingEnv = new Map<string, string>();

describe("Kubernetes manifests (deploy/kubernetes), offline", function () {
  this.timeout(60_000);

  it("render: both overlays, with the objects each promises", () => {
    const names = (o: (typeof overlays)[number]) => rendered[o].map(id);
    for (const overlay of overlays) {
      expect(names(overlay)).to.include.members([
        "Deployment/gateway", "Deployment/inventory", "Deployment/payments", "Deployment/orders", "Deployment/notifications",
        "StatefulSet/nats", "Service/postgres", "NetworkPolicy/default-deny",
      ]);
      expect(new Set(names(overlay)).size, "no object twice").to.equal(names(overlay).length);
    }
    expect(rendered.dev.every((o) => o.metadata.namespace === "meshwork-dev")).to.equal(true);
    expect(rendered.production.every((o) => o.metadata.namespace === "meshwork")).to.equal(true);
    for (const w of workloadsOf(rendered.dev)) expect((w.spec as any).replicas, id(w)).to.equal(1);
    for (const w of workloadsOf(rendered.production)) expect((w.spec as any).replicas, id(w)).to.be.at.least(2);
    expect((rendered.production.find((o) => id(o) === "StatefulSet/nats")!.spec as any).replicas).to.equal(3);
  });

  it("every object is valid against the Kubernetes schemas (kubernetes-models)", async () => {
    for (const { overlay, object } of all) {
      const module = (await import(modelModule(object.apiVersion, object.kind))) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = module[object.kind];
      expect(Model, `${overlay}: ${object.apiVersion} ${object.kind}`).to.be.a("function");
      expect(() => new Model!(object).validate(), `${overlay}: ${id(object)}`).not.to.throw();
    }
  });

  it("every field is one its kind declares (strict unknown-field check)", () => {
    const checker = new StrictFieldChecker(all.map(({ object }) => object));
    for (const { overlay, object } of all) {
      expect(checker.unknownFields(object), `${overlay}: ${id(object)}`).to.deep.equal([]);
    }
    // The check itself fails on a misspelt and on a misplaced field.
    const deployment = structuredClone(rendered.dev.find((o) => id(o) === "Deployment/orders")!);
    const container = podSpecOf(deployment).containers[0];
    container.readinessprobe = container.readinessProbe;
    podSpecOf(deployment).livenessProbe = {};
    expect(checker.unknownFields(deployment)).to.deep.equal([
      "spec.template.spec.containers[0].readinessprobe",
      "spec.template.spec.livenessProbe",
    ]);
  });

  it("every container has probes, resource requests and limits, and the hardened securityContext", () => {
    for (const { overlay, object } of all.filter(({ object }) => ["Deployment", "StatefulSet"].includes(object.kind))) {
      const pod = podSpecOf(object);
      for (const c of containersOf(object) as Container[]) {
        const where = `${overlay}: ${id(object)} ${c.name}`;
        expect(c.readinessProbe, `${where} readinessProbe`).to.be.an("object");
        expect(c.livenessProbe, `${where} livenessProbe`).to.be.an("object");
        for (const r of ["cpu", "memory"]) {
          expect(c.resources?.requests?.[r], `${where} requests.${r}`).to.be.a("string");
          expect(c.resources?.limits?.[r], `${where} limits.${r}`).to.be.a("string");
        }
        expect(c.securityContext, where).to.deep.include({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
        });
        expect(pod.securityContext?.seccompProfile?.type ?? c.securityContext?.seccompProfile?.type, `${where} seccomp`).to.equal("RuntimeDefault");
        expect(pod.securityContext?.runAsNonRoot, `${where} pod runAsNonRoot`).to.equal(true);
      }
    }
  });

  it("Meshwork processes: gRPC probes on their port (HTTP /readyz, /healthz for the gateway) and a shutdown that fits the grace period", () => {
    const common = rendered.production.find((o) => id(o) === "ConfigMap/meshwork-common")!.data as Record<string, string>;
    for (const { overlay, object } of all.filter(({ object }) => object.kind === "Deployment")) {
      const pod = podSpecOf(object);
      const c = pod.containers[0] as Container;
      const port = c.ports[0].containerPort as number;
      if (object.metadata.name === "gateway") {
        expect(c.readinessProbe.httpGet.path).to.equal("/readyz");
        expect(c.livenessProbe.httpGet.path).to.equal("/healthz");
      } else {
        expect(c.readinessProbe.grpc, `${overlay}: ${id(object)}`).to.deep.equal({ port });
        expect(c.livenessProbe.grpc).to.deep.equal({ port });
      }
      // preStop sleep, then SIGTERM: SHUTDOWN_DELAY_MS accepting with readiness 503, then serve()'s drain (10 s).
      const preStopMs = (c.lifecycle.preStop.sleep.seconds as number) * 1000;
      const budgetMs = preStopMs + Number(common.SHUTDOWN_DELAY_MS) + 10_000;
      expect(budgetMs, `${overlay}: ${id(object)}`).to.be.at.most((pod.terminationGracePeriodSeconds as number) * 1000);
      expect(c.image).to.match(/^localhost\/meshwork:/);
    }
  });

  it("every variable a main reads is set or safely defaulted, and every variable set is read", () => {
    const readByAny = new Set<string>();
    for (const { overlay, object } of all.filter(({ object }) => object.kind === "Deployment")) {
      const c = podSpecOf(object).containers[0] as Container;
      const fromConfigMaps = (c.envFrom ?? []).flatMap((from: Container) => {
        const map = rendered[overlay].find((o) => o.kind === "ConfigMap" && o.metadata.name === from.configMapRef.name);
        expect(map, `${overlay}: ConfigMap ${from.configMapRef.name}`).to.not.equal(undefined);
        return Object.keys((map!.data ?? {}) as object);
      });
      const own = (c.env ?? []).map((e: Container) => e.name as string);
      const set = new Set<string>([...own, ...fromConfigMaps]);
      const reads = envReadsOf(root, object.metadata.name);
      const read = new Set(reads.map((r) => r.name));
      for (const name of read) readByAny.add(name);
      for (const r of reads.filter((r) => isMachineLocal(r.fallback))) {
        expect(set.has(r.name) || imageEnv.has(r.name), `${overlay}: ${id(object)} must set ${r.name} (default ${r.fallback})`).to.equal(true);
      }
      // The shared ConfigMap goes to every process; each variable it sets must be read by one (below).
      for (const name of own) {
        if (pendingEnv.has(name)) {
          expect(read.has(name), `${name} is read now: remove it from pendingEnv`).to.equal(false);
          continue;
        }
        expect(read.has(name), `${overlay}: ${id(object)} sets ${name}, which its main does not read`).to.equal(true);
      }
    }
    const common = rendered.production.find((o) => id(o) === "ConfigMap/meshwork-common")!.data as Record<string, string>;
    for (const name of Object.keys(common)) expect(readByAny.has(name), `meshwork-common sets ${name}, which no main reads`).to.equal(true);
  });

  it("every Service selects a workload's pods and targets ports they name", () => {
    for (const { overlay, object } of all.filter(({ object }) => object.kind === "Service")) {
      const spec = object.spec as Container;
      if (spec.type === "ExternalName") {
        expect(spec.externalName, `${overlay}: ${id(object)}`).to.be.a("string");
        continue;
      }
      const selector = spec.selector as Record<string, string>;
      const pods = workloadsOf(rendered[overlay]).filter((w) => {
        const labels = (w.spec as any).template.metadata.labels as Record<string, string>;
        return Object.entries(selector).every(([k, v]) => labels[k] === v);
      });
      expect(pods.length, `${overlay}: ${id(object)} selects no pods`).to.be.greaterThan(0);
      const named = new Set(pods.flatMap((w) => (containersOf(w) as Container[]).flatMap((c) => (c.ports ?? []).map((p: Container) => p.name))));
      for (const p of spec.ports as Container[]) {
        expect(named.has(p.targetPort), `${overlay}: ${id(object)} port ${p.name} -> ${p.targetPort}`).to.equal(true);
      }
    }
    // Client-side balancing needs every pod's address: the mesh's own Services are headless.
    for (const name of ["inventory", "payments", "orders", "notifications"]) {
      const service = rendered.production.find((o) => id(o) === `Service/${name}`)!;
      expect((service.spec as Container).clusterIP, name).to.equal("None");
    }
  });

  it("production: a PodDisruptionBudget and an autoscaler (min 2) for every stateless workload", () => {
    for (const name of ["gateway", "inventory", "payments", "orders", "notifications"]) {
      const pdb = rendered.production.find((o) => id(o) === `PodDisruptionBudget/${name}`);
      expect((pdb?.spec as Container | undefined)?.selector?.matchLabels?.["app.kubernetes.io/name"], name).to.equal(name);
      const hpa = rendered.production.find((o) => id(o) === `HorizontalPodAutoscaler/${name}`)!.spec as Container;
      expect(hpa.scaleTargetRef).to.include({ kind: "Deployment", name });
      expect(hpa.minReplicas).to.be.at.least(2);
    }
  });

  describe("NetworkPolicies", () => {
    let services: DescService[];
    before(async () => {
      services = await contractServices(root);
    });
    const key = (c: Call) => `${c.caller} -> ${c.callee}`;
    const meshWorkloads = () => new Set(workloadsOf(rendered.production).filter((w) => w.kind === "Deployment").map((w) => w.metadata.name));

    /**
     * The contracts' caller graph, from the descriptors: a method's callers
     * (or its service's default callers) may call the workload whose own
     * package (meshwork.<workload>.<version>) holds it. The mesh-wide
     * services (events, faults, routing) add nothing on NATS: the only one
     * with callers that are services is EventLogService, which nothing serves
     * on NATS (the processes' event bus there, as NATS_URL says).
     */
    const contractGraph = (): string[] => {
      const workloads = meshWorkloads();
      const pairs = new Set<string>();
      for (const service of services) {
        const owner = /^meshwork\.([a-z0-9_]+)\./.exec(service.typeName)![1]!;
        for (const method of service.methods) {
          const callers = declaredCallers(method).services;
          if (!workloads.has(owner)) {
            const what = `${service.typeName}/${method.name}`;
            expect(["events", "faults", "routing"], what).to.include(owner);
            if (callers.length > 0) expect(what).to.equal("meshwork.events.v1.EventLogService/Subscribe");
            continue;
          }
          for (const caller of callers) pairs.add(key({ caller, callee: owner }));
        }
      }
      return [...pairs].sort();
    };

    it("the committed file is what make network-policies generates from the contracts", async () => {
      const committed = readFileSync(path.join(import.meta.dirname, "base/network-policies.yaml"), "utf8");
      expect(committed, "run make network-policies").to.equal(networkPoliciesYaml(await repositoryInput(root)));
      expect(manifestsBus(root)).to.equal("nats");
    });

    it("the rendered NetworkPolicy graph equals the contracts' caller graph, in both overlays", () => {
      const expected = contractGraph();
      expect(expected).to.deep.equal([
        "gateway -> inventory", "gateway -> notifications", "gateway -> orders", "orders -> inventory", "orders -> payments",
      ]);
      const workloads = meshWorkloads();
      for (const overlay of overlays) {
        const policies = rendered[overlay].filter((o) => o.kind === "NetworkPolicy");
        const ingress = new Set<string>();
        const egress = new Set<string>();
        for (const p of policies) {
          const spec = p.spec as Container;
          const self = spec.podSelector?.matchLabels?.[workloadLabel] as string | undefined;
          if (self === undefined || !workloads.has(self)) continue;
          for (const rule of spec.ingress ?? []) {
            for (const from of rule.from ?? []) ingress.add(key({ caller: from.podSelector.matchLabels[workloadLabel], callee: self }));
          }
          for (const rule of spec.egress ?? []) {
            for (const to of rule.to ?? []) {
              const callee = to.podSelector?.matchLabels?.[workloadLabel] as string | undefined;
              if (callee !== undefined && workloads.has(callee)) egress.add(key({ caller: self, callee }));
            }
          }
        }
        expect([...ingress].sort(), `${overlay} ingress`).to.deep.equal(expected);
        expect([...egress].sort(), `${overlay} egress`).to.deep.equal(expected);
        expect(policies.some((p) => p.metadata.name === "default-deny")).to.equal(true);
      }
    });

    it("nothing outside the graph reaches a mesh workload but the edge (operators come by port-forward)", () => {
      const workloads = meshWorkloads();
      for (const overlay of overlays) {
        for (const p of rendered[overlay].filter((o) => o.kind === "NetworkPolicy")) {
          const spec = p.spec as Container;
          const self = spec.podSelector?.matchLabels?.[workloadLabel] as string | undefined;
          if (self === undefined || !workloads.has(self)) continue;
          for (const rule of spec.ingress ?? []) {
            const fromPods = (rule.from ?? []).length > 0 && (rule.from as Container[]).every((f) => f.podSelector !== undefined && f.namespaceSelector === undefined);
            expect(fromPods || self === "gateway", `${overlay}: ${id(p)} admits ${JSON.stringify(rule)}`).to.equal(true);
          }
        }
      }
    });
  });

  it("production: MESH_ENV=production, and no development fallback the manifests can avoid", () => {
    /** A container's environment as the pod gets it: its ConfigMaps' data, then its own env (values and ConfigMap keys). */
    const envOf = (overlay: (typeof overlays)[number], object: K8sObject): Record<string, string> => {
      const c = podSpecOf(object).containers[0] as Container;
      const map = (name: string) => rendered[overlay].find((o) => o.kind === "ConfigMap" && o.metadata.name === name)!.data as Record<string, string>;
      const env: Record<string, string> = Object.assign({}, ...(c.envFrom ?? []).map((f: Container) => map(f.configMapRef.name)));
      for (const e of (c.env ?? []) as Container[]) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom?.configMapKeyRef !== undefined) env[e.name] = map(e.valueFrom.configMapKeyRef.name)[e.valueFrom.configMapKeyRef.key]!;
        else if (e.valueFrom !== undefined) env[e.name] = "(from the pod)";
      }
      return env;
    };
    const deployments = rendered.production.filter((o) => o.kind === "Deployment");
    expect(deployments.map((d) => d.metadata.name).sort()).to.deep.equal(["gateway", "inventory", "notifications", "orders", "payments"]);
    for (const d of deployments) {
      const env = envOf("production", d);
      const where = `production: ${id(d)}`;
      expect(env["MESH_ENV"], where).to.equal("production");
      // The runtime's fallbacks (mesh/process/production-mode.ts): mTLS on with mounted credentials, no fault injection.
      expect(runtimeDevFallbacks({ mtls: env["MESH_TLS_DIR"] !== undefined && env["MESH_INSECURE"] !== "1", faults: env["MESH_FAULTS"] !== undefined }), where).to.deep.equal([]);
      for (const hook of ["MESH_FAULTS", "SAGA_TEST_CRASH_AT", "OUTBOX_TEST_CRASH", "NOTIFICATIONS_TEST_FAIL_CUSTOMER"]) expect(env[hook], `${where} ${hook}`).to.equal(undefined);
      expect(env["NATS_URL"]!.split(",").every((u) => u.startsWith("tls://")), `${where} NATS_URL ${env["NATS_URL"]}`).to.equal(true);
    }
    const gateway = envOf("production", deployments.find((d) => d.metadata.name === "gateway")!);
    const auth = { jwksUrl: gateway["AUTH_JWKS_URL"] ?? "", jwksFile: gateway["AUTH_JWKS_FILE"] ?? "", issuer: gateway["AUTH_ISSUER"] ?? "", audience: gateway["AUTH_AUDIENCE"] ?? "" };
    expect(authDevFallbacks(auth), "production: the gateway's token verification").to.deep.equal([]);
    // No real card processor is shipped: production names none that exists, so payments
    // stops at start naming PAYMENT_PROCESSOR until one is added (never the simulated one).
    const processor = envOf("production", deployments.find((d) => d.metadata.name === "payments")!)["PAYMENT_PROCESSOR"];
    expect(processor).to.equal("needs-a-real-processor");
    expect(readFileSync(path.join(root, "services/payments/main.ts"), "utf8")).not.to.contain(processor);
    // dev keeps the development mode and the simulated processor.
    for (const d of rendered.dev.filter((o) => o.kind === "Deployment")) expect(envOf("dev", d)["MESH_ENV"], id(d)).to.equal(undefined);
  });

  describe("NATS under TLS", () => {
    const uriSans = (o: K8sObject) =>
      ((podSpecOf(o).volumes ?? []) as Container[]).find((v) => v.name === "tls")?.csi?.volumeAttributes?.["csi.cert-manager.io/uri-sans"] as string | undefined;

    it("the committed nats-config.yaml is what make manifests generates with make nats-config's code", () => {
      const committed = readFileSync(path.join(import.meta.dirname, "base/nats-config.yaml"), "utf8");
      expect(committed, "run make manifests").to.equal(natsConfigMapYaml(repositoryNatsOptions));
    });

    it("nats-server accepts the configuration (nats-server -t, with test certificates in its place)", async function () {
      const { existsSync, mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
      const { execFileSync } = await import("node:child_process");
      const os = await import("node:os");
      const { testCredentialDir } = await import("../../test/support/test-identity.js");
      const { credentialFilesIn } = await import("../../mesh/identity/credential-files.js");
      expect(existsSync("/usr/sbin/nats-server"), "nats-server (scripts/system-packages.txt)").to.equal(true);
      const dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-nats-conf-"));
      try {
        const file = path.join(dir, "nats.conf");
        const conf = natsClusterConfig({
          ...repositoryNatsOptions,
          tls: credentialFilesIn(await testCredentialDir("nats")),
          storeDir: path.join(dir, "js"),
          pidFile: path.join(dir, "nats.pid"),
        });
        writeFileSync(file, conf);
        const out = execFileSync("/usr/sbin/nats-server", ["-t", "-c", file], { env: { ...process.env, SERVER_NAME: "nats-0", ADVERTISE: "nats-0.nats:6222" }, encoding: "utf8", stdio: "pipe" });
        expect(out + "").to.not.match(/error/i);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("requires TLS of clients and routes; each node's certificate is the identity the clients check, and names it for the routes", () => {
      for (const overlay of overlays) {
        const map = rendered[overlay].find((o) => id(o) === "ConfigMap/nats-config")!;
        const conf = (map.data as Record<string, string>)["nats.conf"]!;
        expect(conf).to.match(/^tls \{[^}]*verify_and_map: true/m);
        expect(conf).to.match(/cluster \{[\s\S]*\n  tls \{[^}]*verify_and_map: true/);
        expect(conf).to.contain(`authorization { user: "spiffe://${repositoryNatsOptions.trustDomain}/service/nats" }`);
        expect(conf).to.match(/^server_name: \$SERVER_NAME$/m).and.match(/advertise: \$ADVERTISE$/m);
        const nats = rendered[overlay].find((o) => id(o) === "StatefulSet/nats")!;
        expect(uriSans(nats)).to.equal(`spiffe://${repositoryNatsOptions.trustDomain}/service/nats`);
        const dns = ((podSpecOf(nats).volumes as Container[]).find((v) => v.name === "tls")!.csi.volumeAttributes["csi.cert-manager.io/dns-names"] as string).split(",");
        expect(dns).to.include("${POD_NAME}.nats");
        expect(conf).to.contain('"nats-route://nats-0.nats:6222"');
        const env = (podSpecOf(nats).containers as Container[])[0]!.env as Container[];
        expect(env.find((e) => e.name === "ADVERTISE")?.value).to.equal("$(SERVER_NAME).nats:6222");
        expect((podSpecOf(nats).containers as Container[])[0]!.args).to.deep.equal(["--config", "/etc/nats/config/nats.conf"]);
        // Each NATS user is a workload whose certificate carries that identity.
        for (const name of Object.keys({ ...repositoryNatsOptions.plan.publishers, ...repositoryNatsOptions.plan.consumers })) {
          const deployment = rendered[overlay].find((o) => id(o) === `Deployment/${name}`)!;
          const identity = `spiffe://${repositoryNatsOptions.trustDomain}/service/${name}`;
          expect(uriSans(deployment), `${overlay}: ${name}`).to.equal(identity);
          expect(conf).to.contain(`user: "${identity}"`);
        }
      }
    });
  });

  it("the renderer refuses what it does not implement instead of ignoring it", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const os = await import("node:os");
    const dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-kustomize-"));
    try {
      writeFileSync(path.join(dir, "kustomization.yaml"), "resources: []\nconfigMapGenerator: []\n");
      expect(() => renderKustomization(dir)).to.throw(/configMapGenerator is not supported/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(parse("a: 1")).to.deep.equal({ a: 1 });
  });
});
