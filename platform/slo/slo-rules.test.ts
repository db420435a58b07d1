import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { stringify } from "yaml";
import { loadCatalogue, type ServiceManifest } from "../catalogue/index.js";
import { sloRulesFile, sloRulesYaml } from "./index.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
/** Debian's prometheus package ships it (make test installs the package). */
const promtool = "/usr/bin/promtool";

async function promtoolRun(...args: string[]): Promise<string> {
  if (!existsSync(promtool)) {
    throw new Error(`${promtool} is missing: apt-get install -y prometheus (make test installs it)`);
  }
  try {
    const { stdout, stderr } = await run(promtool, args);
    return stdout + stderr;
  } catch (err) {
    const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(" ")} failed:\n${stdout}${stderr}`);
  }
}

describe("SLO rules generated from the catalogue", function () {
  this.timeout(60_000);
  let manifests: ServiceManifest[];
  let dir: string;

  before(() => {
    manifests = loadCatalogue(root).services.map((s) => s.manifest);
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-slo-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`are committed as ${sloRulesFile}, as make slo-rules writes them`, () => {
    expect(readFileSync(path.join(root, sloRulesFile), "utf8")).to.equal(sloRulesYaml(manifests), "run `make slo-rules` and commit the result");
  });

  it("pass promtool check rules, as written and with the windows scaled down", async () => {
    const expected = manifests.reduce((n, m) => n + m.slos.length, 0) * (8 + 2 + 2);
    expect(await promtoolRun("check", "rules", path.join(root, sloRulesFile))).to.contain(`SUCCESS: ${expected} rules found`);
    const scaled = path.join(dir, "scaled.yml");
    writeFileSync(scaled, sloRulesYaml(manifests, { scale: 60 }));
    expect(await promtoolRun("check", "rules", scaled)).to.contain(`SUCCESS: ${expected} rules found`);
    expect(readFileSync(scaled, "utf8")).to.contain("[5s]").and.contain("[60s]").and.not.contain("[5m]");
  });

  it("page and ticket on the workbook's burn rates, and stop once the burn stops (promtool test rules)", async () => {
    // 10 calls/s; from minute 60 to 100 also 2 internal errors/s (17% of the calls,
    // 167 times the 0.1% budget): every window's ratio passes its threshold.
    const place = 'service="meshwork.orders.v1.OrderService",method="PlaceOrder"';
    // 10 calls/s; from minute 60 to 100 half of them over a second (50 times the 1% budget).
    const labels = (slo: string, severity: string): Record<string, string> => ({
      slo_service: "orders",
      slo,
      owner: "checkout team",
      tier: "1",
      severity,
    });
    const orders = manifests.find((m) => m.name === "orders")!;
    const annotations = (slo: string, severity: "page" | "ticket"): Record<string, string> => {
      const s = orders.slos.find((x) => x.name === slo)!;
      return {
        summary: `orders ${slo}: error budget burning ${severity === "page" ? "fast" : "slowly"}`,
        description: `${s.description} Objective ${s.objective}% over 30 days; owner: checkout team.`,
      };
    };
    const alert = (slo: string, severity: "page" | "ticket") => ({ exp_labels: labels(slo, severity), exp_annotations: annotations(slo, severity) });
    const tests = {
      rule_files: ["rules.yml"],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: [
            { series: `meshwork_server_requests_total{${place},code="ok"}`, values: "0+600x180" },
            { series: `meshwork_server_requests_total{${place},code="internal"}`, values: "0x60 120+120x39 4800x80" },
            { series: `meshwork_server_request_duration_seconds_count{${place}}`, values: "0+600x180" },
            { series: `meshwork_server_request_duration_seconds_bucket{${place},le="1"}`, values: "0+600x60 36300+300x39 48000+600x80" },
          ],
          alert_rule_test: [
            { eval_time: "50m", alertname: "SLOErrorBudgetBurnFast", exp_alerts: [] },
            {
              eval_time: "75m",
              alertname: "SLOErrorBudgetBurnFast",
              exp_alerts: [alert("place-order-availability", "page"), alert("place-order-latency", "page")],
            },
            {
              eval_time: "75m",
              alertname: "SLOErrorBudgetBurnSlow",
              exp_alerts: [alert("place-order-availability", "ticket"), alert("place-order-latency", "ticket")],
            },
            // The 5-minute window is clean, but the 30-minute one still burns at over 6x: still paging.
            {
              eval_time: "110m",
              alertname: "SLOErrorBudgetBurnFast",
              exp_alerts: [alert("place-order-availability", "page"), alert("place-order-latency", "page")],
            },
            // Both short windows clean: the page stops, half an hour after the burn did.
            { eval_time: "140m", alertname: "SLOErrorBudgetBurnFast", exp_alerts: [] },
          ],
          promql_expr_test: [
            {
              expr: 'slo:objective:ratio{slo="place-order-availability"}',
              eval_time: "10m",
              exp_samples: [{ labels: `slo:objective:ratio{${labelText(labels("place-order-availability", ""))}}`, value: 0.999 }],
            },
            {
              // Before any error, the whole budget is left.
              expr: 'slo:error_budget_remaining:ratio{slo="place-order-availability"}',
              eval_time: "50m",
              exp_samples: [{ labels: `slo:error_budget_remaining:ratio{${labelText(labels("place-order-availability", ""))}}`, value: 1 }],
            },
          ],
        },
      ],
    };
    writeFileSync(path.join(dir, "rules.yml"), sloRulesYaml(manifests));
    writeFileSync(path.join(dir, "tests.yml"), stringify(tests));
    expect(await promtoolRun("test", "rules", path.join(dir, "tests.yml"))).to.contain("SUCCESS");
  });
});

/** Labels as promtool's exp_samples writes them, without the severity of alerts. */
function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .filter(([name]) => name !== "severity")
    .map(([name, value]) => `${name}="${value}"`)
    .join(",");
}
