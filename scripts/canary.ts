// `make canary SERVICE=orders VERSION=canary`: rolls a version of a service
// out step by step (1%, 5%, 25%, 50%, 100% of its callers' calls), judging
// each step from the callers' own metrics, and rolls it back on a breach:
// worse than the stable version, or burning one of the service's SLOs
// (its catalogue entry, services/<service>/service.yaml) fast.
// The weights and the rollout's story go into the routes file every process
// of the mesh watches (MESH_ROUTES_FILE; make run's is .data/routes.json),
// written whole and renamed into place so no process reads half a file.
// Exit status: 0 promoted, 1 rolled back, 2 bad usage.
//   tsx scripts/canary.ts --service orders --version canary [--stable stable]
//     [--routes .data/routes.json] [--metrics http://127.0.0.1:8080/metrics[,...]]
//     [--token <admin bearer token for the gateway's /metrics; default: signed with make run's dev key>] [--steps 1,5,25,50,100] [--window-s 30] [--settle-ms 1500]
//     [--min-calls 20] [--max-windows 3] [--min-latency-calls 100] [--max-error-rate-increase 0.01] [--max-p99-ratio 1.5]
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { adminScope, devAuthDirName, signDevToken, signingKeyFileName } from "../gateway/auth/index.js";
import { parsePrometheusText } from "../gateway/mesh-page/prometheus-text.js";
import { MethodRouteSchema, RolloutState, RouteRulesSchema, TargetRoutesSchema, type Rollout, type RouteRules } from "../gen/meshwork/routing/v1/routing_pb.js";
import { createLogger, envString } from "../mesh/index.js";
import { loadCatalogue } from "../platform/catalogue/index.js";
import { defaultThresholds } from "./canary/canary-analysis.js";
import { defaultSteps, runCanary } from "./canary/canary-controller.js";

const usage =
  "usage: tsx scripts/canary.ts --service <target> --version <canary> [--stable stable] [--routes <file>] [--metrics <url,...>] " +
  "[--token <token>] [--steps 1,5,25,50,100] [--window-s 30] [--settle-ms 1500] [--min-calls 20] [--max-windows 3] [--min-latency-calls 100] " +
  "[--max-error-rate-increase 0.01] [--max-p99-ratio 1.5]";
const root = path.resolve(import.meta.dirname, "..");
const logger = createLogger("canary", envString(process.env, "LOG_LEVEL", "info"));

const argOptions = {
  service: { type: "string" },
  version: { type: "string" },
  stable: { type: "string", default: "stable" },
  routes: { type: "string" },
  metrics: { type: "string", default: "http://127.0.0.1:8080/metrics" },
  token: { type: "string" },
  steps: { type: "string", default: defaultSteps.join(",") },
  "window-s": { type: "string", default: "30" },
  "settle-ms": { type: "string", default: "1500" },
  "min-calls": { type: "string", default: String(defaultThresholds.minCalls) },
  "max-windows": { type: "string", default: "3" },
  "min-latency-calls": { type: "string", default: String(defaultThresholds.minLatencyCalls) },
  "max-error-rate-increase": { type: "string", default: String(defaultThresholds.maxErrorRateIncrease) },
  "max-p99-ratio": { type: "string", default: String(defaultThresholds.maxP99Ratio) },
} as const;
const values = (() => {
  try {
    return parseArgs({ options: argOptions }).values;
  } catch (err) {
    return fail(`${(err as Error).message}\n${usage}`);
  }
})();
const service = values.service ?? fail(`--service is required\n${usage}`);
const version = values.version ?? fail(`--version is required\n${usage}`);
const routesFile = path.resolve(root, values.routes ?? path.join(envString(process.env, "MESH_DATA_DIR", ".data"), "routes.json"));
const number = (name: keyof typeof values, min: number): number => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min) {
    fail(`--${name} must be a number >= ${min}, got ${String(values[name])}`);
  }
  return value;
};
const steps = String(values.steps).split(",").map(Number);
const metricsUrls = String(values.metrics).split(",").map((u) => u.trim()).filter((u) => u !== "");
// The gateway's /metrics is for operators: without --token, an admin token
// signed with make run's dev key when there is one (as make token signs it).
const devKeys = path.resolve(root, envString(process.env, "MESH_DATA_DIR", ".data"), devAuthDirName);
const token =
  values.token ??
  (existsSync(path.join(devKeys, signingKeyFileName)) ? await signDevToken(devKeys, { subject: "canary", scopes: [adminScope], ttlSec: 12 * 3600 }) : undefined);

try {
  const rollout = await runCanary({
    target: service,
    canary: version,
    stable: values.stable ?? "stable",
    steps,
    windowMs: number("window-s", 1) * 1000,
    settleMs: number("settle-ms", 0),
    maxWindowsPerStep: number("max-windows", 1),
    thresholds: {
      ...defaultThresholds,
      minCalls: number("min-calls", 1),
      minLatencyCalls: number("min-latency-calls", 1),
      maxErrorRateIncrease: number("max-error-rate-increase", 0),
      maxP99Ratio: number("max-p99-ratio", 1),
    },
    slos: targetSlos(),
    logger,
    scrape: () => Promise.all(metricsUrls.map(scrape)),
    publish: (weight, status) => Promise.resolve(publish(weight, status)),
  });
  const last = rollout.decisions.at(-1);
  console.log(`${service} ${version}: ${rollout.state === RolloutState.PROMOTED ? "PROMOTED" : "ROLLED BACK"} (${last?.reason ?? ""})`);
  process.exit(rollout.state === RolloutState.PROMOTED ? 0 : 1);
} catch (err) {
  fail((err as Error).message);
}

/** The service's SLOs from the catalogue; none (said in the log) for a target the catalogue does not hold. */
function targetSlos() {
  const entry = loadCatalogue(root).services.find((s) => s.manifest.name === service);
  if (entry === undefined) {
    logger.warn({ service }, "no catalogue entry for the service: its canary is judged against the stable version only");
    return [];
  }
  return entry.manifest.slos;
}

async function scrape(url: string): Promise<ReturnType<typeof parsePrometheusText>["samples"]> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(5000),
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  if (res.status === 401 || res.status === 403) {
    throw new Error(`GET ${url}: ${res.status} ${res.statusText}: the gateway's /metrics needs an admin token (--token, scope ${adminScope})`);
  }
  if (!res.ok) {
    throw new Error(`GET ${url}: ${res.status} ${res.statusText}`);
  }
  return parsePrometheusText(await res.text()).samples;
}

/** Sets the target's weights and rollout in the routes file, keeping every other rule, and renames it into place. */
function publish(weight: number, rollout: Rollout): void {
  const rules: RouteRules = existsSync(routesFile)
    ? fromJsonString(RouteRulesSchema, readFileSync(routesFile, "utf8"))
    : create(RouteRulesSchema);
  const target = rules.targets[service] ?? create(TargetRoutesSchema);
  const all = target.allMethods ?? create(MethodRouteSchema);
  all.weights = { [values.stable ?? "stable"]: 100 - weight, [version]: weight };
  // One customer stays on one version while the weights hold (the gateway sends x-customer-id).
  all.stickyHeader ||= "x-customer-id";
  target.allMethods = all;
  target.rollout = rollout;
  rules.targets[service] = target;
  const temporary = `${routesFile}.${process.pid}.tmp`;
  writeFileSync(temporary, toJsonString(RouteRulesSchema, rules, { prettySpaces: 2 }));
  renameSync(temporary, routesFile);
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
