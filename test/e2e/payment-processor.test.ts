import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { startService } from "../support/service-process.js";

/** payments' card processor is a port; PAYMENT_PROCESSOR selects the implementation (services/payments/main.ts). */
describe("payments: PAYMENT_PROCESSOR selects the card processor", function () {
  this.timeout(120_000);
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-processor-"))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("runs the simulated processor when it is named, without a warning", async () => {
    const payments = await startService("payments", { DATA_DIR: dataDir, PAYMENT_PROCESSOR: "simulated" });
    try {
      expect(payments.logs.find((l) => l.msg === "card processor selected")).to.include({ payment_processor: "simulated", level: 30 });
      expect(payments.logs.filter((l) => String(l.msg).includes("PAYMENT_PROCESSOR"))).to.deep.equal([]);
    } finally {
      await payments.stop();
    }
  });

  it("falls back to the simulated processor when unset, with a warning naming the variable", async () => {
    const payments = await startService("payments", { DATA_DIR: dataDir, PAYMENT_PROCESSOR: "" });
    try {
      expect(payments.logs.find((l) => l.msg === "card processor selected")).to.include({ payment_processor: "simulated" });
      const warning = payments.logs.find((l) => String(l.msg).startsWith("PAYMENT_PROCESSOR unset"));
      expect(warning, "the fallback's warning").to.include({ level: 40 });
      expect(String(warning?.msg)).to.contain("simulated card processor");
    } finally {
      await payments.stop();
    }
  });

  it("stops at start on a processor it does not have, naming the variable", async () => {
    const failure = await startService("payments", { DATA_DIR: dataDir, PAYMENT_PROCESSOR: "acme-pay" }).then(
      async (p) => {
        await p.stop();
        return undefined;
      },
      (err: unknown) => err as Error,
    );
    expect(failure?.message).to.match(/payments exited with 1 before serving: .*PAYMENT_PROCESSOR=acme-pay: expected one of simulated/s);
  });
});
