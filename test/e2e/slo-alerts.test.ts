import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { ClientFactory } from "../../mesh/index.js";
import { loadCatalogue } from "../../platform/catalogue/index.js";
import { alertNames, sloRulesYaml } from "../../platform/slo/index.js";
import { bareTarget } from "../support/bare-target.js";
import { PrometheusServer, type PrometheusAlert } from "../support/prometheus-server.js";
import { startService, type ServiceProcess } from "../support/service-process.js";

const root = path.resolve(import.meta.dirname, "../..");
/** An hour of the workbook becomes a minute: the page's windows are 60 s and 5 s (6 min and 30 s). */
const scale = 60;
const slo = "authorize-payment-availability";

/**
 * The catalogue's SLO rules, windows scaled down 60 times, in a real
 * Prometheus scraping a real payments process: while AuthorizePayment fails
 * with Unavailable (the processor's `tok_unavailable` fault), the fast-burn
 * page for payments' availability SLO fires; once the fault stops, it
 * resolves.
 */
describe("SLO burn-rate alerts in a real Prometheus (windows scaled down 60x)", function () {
  this.timeout(240_000);
  let dir: string;
  let payments: ServiceProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  const clients = new ClientFactory();
  let faulty = false;
  let sending = true;
  let traffic: Promise<void> | undefined;
  const outcomes = { ok: 0, failed: 0 };

  const page = (alerts: PrometheusAlert[]): PrometheusAlert | undefined =>
    alerts.find((a) => a.labels.alertname === alertNames.page && a.labels.slo === slo);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-slo-alerts-"));
    const rules = path.join(dir, "slo-rules.yml");
    writeFileSync(rules, sloRulesYaml(loadCatalogue(root).services.map((s) => s.manifest), { scale }));
    payments = await startService("payments", { DATA_DIR: dir });
    prometheus = await PrometheusServer.start({ targets: { payments: payments.address }, ruleFiles: [rules] });
    // One call every 50 ms until the end: tok_visa approves, tok_unavailable fails as the processor being down would.
    const client = clients.client(PaymentService, bareTarget(payments.url));
    traffic = (async () => {
      for (let i = 0; sending; i++) {
        try {
          await client.authorizePayment({
            idempotencyKey: `slo-${i}`,
            orderId: `slo-order-${i}`,
            amountMinor: 100n,
            currencyCode: "USD",
            cardToken: faulty ? "tok_unavailable" : "tok_visa",
          });
          outcomes.ok++;
        } catch {
          outcomes.failed++;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  });

  after(async () => {
    sending = false;
    await traffic;
    clients.close();
    await prometheus?.stop();
    await payments?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records the SLO's error ratio as 0 and pages nobody while calls succeed", async () => {
    const ratio = await prometheus!.until(`slo:sli_error:ratio_rate5m{slo="${slo}"}`, (r) => r.length === 1, 90_000);
    expect(ratio.map((s) => Number(s.value[1])), prometheus!.log).to.deep.equal([0]);
    expect(ratio[0]?.metric).to.include({ slo_service: "payments", owner: "payments team" });
    expect(page(await prometheus!.alerts())).to.equal(undefined);
  });

  it("fires the fast-burn page while AuthorizePayment fails, labelled with the service, the SLO and its owner", async () => {
    faulty = true;
    const alerts = await prometheus!.alertsUntil((a) => page(a)?.state === "firing", 90_000);
    faulty = false;
    expect(page(alerts)?.state, JSON.stringify(alerts)).to.equal("firing");
    expect(page(alerts)?.labels).to.include({ slo_service: "payments", owner: "payments team", severity: "page" });
    expect(outcomes.failed).to.be.greaterThan(0);
    const left = await prometheus!.query(`slo:error_budget_remaining:ratio{slo="${slo}"}`);
    expect(Number(left[0]?.value[1])).to.be.lessThan(1);
  });

  it("resolves the page once the calls succeed again", async () => {
    const alerts = await prometheus!.alertsUntil((a) => page(a) === undefined, 150_000);
    expect(page(alerts), JSON.stringify(alerts)).to.equal(undefined);
    const ratio = await prometheus!.query(`slo:sli_error:ratio_rate5m{slo="${slo}"}`);
    expect(Number(ratio[0]?.value[1])).to.equal(0);
  });
});
