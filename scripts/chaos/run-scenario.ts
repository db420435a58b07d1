import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { adminScope, devAuthDirName, signDevToken } from "../../gateway/auth/index.js";
import { loadCatalogue } from "../../platform/catalogue/index.js";
import { htmlReport } from "../load/html-report.js";
import { summarize, summaryTable, type LoadSummary } from "../load/load-summary.js";
import { runOpenLoop } from "../load/open-loop.js";
import { restMix } from "../load/rest-mix.js";
import { restock } from "../load/restock.js";
import { virtualCustomers } from "../load/virtual-customers.js";
import { startChaosMesh } from "./chaos-mesh.js";
import { domainVerdicts, notificationGaps, pendingOrders, stockBaseline, type Verdict } from "./invariants.js";
import { retryVerdicts } from "./retry-verdicts.js";
import { faultSetter, flakyShare, type ChaosContext, type Scenario } from "./scenarios.js";

export interface RunScenarioOptions {
  /** Seconds of load. Short form (CI): 20; long form: 60. */
  readonly loadS: number;
  /** Requests per second the load offers. */
  readonly rate: number;
  /** How long after the load every order must have ended, and every event been notified. */
  readonly settleS: number;
  /** Where verdict.json and the load's report.html go. */
  readonly out: string;
  readonly log?: (line: string) => void;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly description: string;
  readonly held: boolean;
  readonly verdicts: readonly Verdict[];
  readonly restarts: Readonly<Record<string, number>>;
  readonly actions: readonly string[];
  readonly load: LoadSummary;
}

/** Seconds after a fault window that still count as inside it (the mesh recovering). */
const recoveryS = 5;

/**
 * One chaos scenario: a fresh mesh under the supervisor, `make load`'s REST
 * mix at a constant rate, the scenario's faults while it runs, then a verdict
 * from the services' databases (and, for `flaky`, their counters): the
 * domain's invariants, the gateway's p99 outside the fault windows against
 * its latency SLO (gateway/service.yaml), and the restarts the supervisor made.
 */
export async function runScenario(scenario: Scenario, options: RunScenarioOptions): Promise<ScenarioResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const mesh = await startChaosMesh({ nats: scenario.nats === true });
  const faults = faultSetter(mesh);
  const actions: string[] = [];
  try {
    const runId = Date.now().toString(36);
    const tokenDir = path.join(mesh.dataDir, devAuthDirName);
    const stages = [{ durationMs: options.loadS * 1000, fromRate: options.rate, toRate: options.rate }];
    const skus = ["BOTTLE-001", "CAP-001", "HOODIE-001", "MUG-001", "NOTEBOOK-001", "POSTER-001", "STICKER-001", "TEE-001"];
    await restock({ gatewayUrl: mesh.urls.gateway, tokenDir, skus, stages, runId });
    const baseline = stockBaseline(mesh.dataDir);
    const load = restMix({ gatewayUrl: mesh.urls.gateway, customers: await virtualCustomers(tokenDir, 20), skus, runId });

    const windows: [number, number][] = [];
    let started = 0;
    const ctx: ChaosContext = {
      mesh,
      loadS: options.loadS,
      faultWindow: (from, to) => windows.push([from, to]),
      setFaults: faults.set,
      at: (s) => new Promise((resolve) => setTimeout(resolve, Math.max(0, started + s * 1000 - performance.now()))),
      log: (line) => {
        actions.push(line);
        log(`${scenario.name}: ${line}`);
      },
    };
    started = performance.now();
    const [result] = await Promise.all([runOpenLoop({ stages, send: load.send }), scenario.run(ctx)]);
    await load.close();

    // Give the sagas and the bus their bound to finish, and every process its
    // restart (a process killed late in the run may still be starting).
    const giveUp = Date.now() + options.settleS * 1000;
    const serving = await Promise.all(mesh.supervisor.status().map((s) => mesh.supervisor.whenServing(s.name, options.settleS * 1000)));
    while (Date.now() < giveUp) {
      const gaps = notificationGaps(mesh.dataDir);
      if (pendingOrders(mesh.dataDir) === 0 && gaps.missing.length === 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    const verdicts = domainVerdicts(mesh.dataDir, baseline, options.settleS);
    const sloMs = gatewayLatencySloMs();
    const outside = (second: number) => !windows.some(([from, to]) => second >= from - 1 && second < to + recoveryS);
    // A scenario whose fault spans the whole run (flaky) has no second to judge latency on.
    const p99 = result.recorder.percentileMsWhere(outside, 99);
    if (p99 !== undefined) {
      verdicts.push({
        name: `gateway p99 outside the fault windows <= ${sloMs} ms (its latency SLO)`,
        basis: "latency",
        held: p99 <= sloMs,
        detail: `p99 ${p99.toFixed(1)} ms outside ${JSON.stringify(windows)} (+${recoveryS} s recovery)`,
      });
    }
    if (scenario.name === "flaky") {
      // The gateway's /metrics is for operators (an admin token); the services' answer in cleartext.
      const operator = { authorization: `Bearer ${await signDevToken(tokenDir, { subject: "chaos-operator", scopes: [adminScope] })}` };
      const text = async (name: "gateway" | "orders" | "inventory") => {
        const res = await fetch(`${mesh.probeUrls[name]}/metrics`, { headers: name === "gateway" ? operator : {} });
        if (!res.ok) throw new Error(`GET ${name}'s /metrics: ${res.status}`);
        return res.text();
      };
      verdicts.push(...retryVerdicts({ gateway: await text("gateway"), orders: await text("orders"), inventory: await text("inventory") }, flakyShare));
    }
    const restarts = Object.fromEntries(mesh.supervisor.status().map((s) => [s.name, s.restarts]));
    if (scenario.name === "kill") {
      const kills = actions.filter((a) => a.includes("SIGKILL")).length;
      const total = Object.values(restarts).reduce((a, b) => a + b, 0);
      verdicts.push({
        name: `the supervisor restarted every killed process, each serving again within ${options.settleS} s`,
        basis: "supervisor",
        held: kills > 0 && total === kills && serving.every(Boolean),
        detail: `${kills} kills, restarts ${JSON.stringify(restarts)}, states ${mesh.supervisor.status().map((s) => `${s.name} ${s.state}`).join(", ")}`,
      });
    }

    const summary = summarize(`rest ${mesh.urls.gateway} (${scenario.name})`, `${options.loadS}s@${options.rate}`, result);
    const outcome: ScenarioResult = {
      scenario: scenario.name,
      description: scenario.description,
      held: verdicts.every((v) => v.held),
      verdicts,
      restarts,
      actions,
      load: summary,
    };
    mkdirSync(options.out, { recursive: true });
    writeFileSync(path.join(options.out, "verdict.json"), `${JSON.stringify(outcome, (_, v: unknown) => (v === Infinity ? null : v), 2)}\n`);
    writeFileSync(path.join(options.out, "report.html"), htmlReport(summary, new Date()));
    log(summaryTable(summary));
    return outcome;
  } finally {
    faults.close();
    await mesh.stop();
  }
}

/** The gateway's latency objective from its catalogue entry (place-order route), in ms. */
function gatewayLatencySloMs(): number {
  const root = path.resolve(import.meta.dirname, "../..");
  const gateway = loadCatalogue(root).services.find((s) => s.manifest.name === "gateway")?.manifest;
  const latency = gateway?.slos.find((s) => s.sli.kind === "latency");
  return latency?.sli.kind === "latency" ? latency.sli.belowSeconds * 1000 : 1000;
}
