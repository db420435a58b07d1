import { create } from "@bufbuild/protobuf";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { expect } from "chai";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { InventoryService, ItemSchema } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { ClientFactory, createLogger, registration, serve } from "../index.js";
import { createTracing } from "../telemetry/tracing.js";
import { fileFeatureFlags, type FeatureFlags } from "./feature-flags.js";

const logger = createLogger("flags-test", "silent");

/** A flagd flag that is on for `percent`% of customers (fractional rollout by targeting key). */
function rollout(percent: number): unknown {
  return {
    flags: {
      "bulk-pricing": {
        state: "ENABLED",
        variants: { on: true, off: false },
        defaultVariant: "off",
        targeting: { fractional: [["on", percent], ["off", 100 - percent]] },
      },
    },
  };
}

describe("feature flags (mesh/flags: OpenFeature with flagd's in-process file provider)", function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let flags: FeatureFlags | undefined;
  let domainCount = 0;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "flags-"));
    file = path.join(dir, "flags.json");
  });
  afterEach(async () => {
    await flags?.close();
    flags = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function write(json: unknown): void {
    writeFileSync(`${file}.tmp`, JSON.stringify(json));
    renameSync(`${file}.tmp`, file);
  }

  async function onFor(customers: number): Promise<Set<string>> {
    const on = new Set<string>();
    for (let c = 0; c < customers; c++) {
      if (await flags!.boolean("bulk-pricing", false, { customerId: `customer-${c}` })) {
        on.add(`customer-${c}`);
      }
    }
    return on;
  }

  it("rolls a flag out to about 10% of customers, the same customers every time", async () => {
    write(rollout(10));
    flags = await fileFeatureFlags({ file, domain: `test-${domainCount++}`, logger });
    const first = await onFor(2000);
    // Binomial(2000, 0.1): mean 200, standard deviation 13.4; five deviations either side.
    expect(first.size).to.be.within(133, 267);
    const second = await onFor(2000);
    expect([...second]).to.deep.equal([...first]);
  });

  it("takes a change of the file without a restart, and answers the fallback for an unknown flag", async () => {
    write(rollout(0));
    flags = await fileFeatureFlags({ file, domain: `test-${domainCount++}`, logger });
    expect((await onFor(200)).size).to.equal(0);
    write(rollout(100));
    // The provider polls the file every 5 s.
    const deadline = Date.now() + 30_000;
    let on = 0;
    while (Date.now() < deadline && on < 200) {
      on = (await onFor(200)).size;
      if (on < 200) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    expect(on).to.equal(200);
    expect(await flags.boolean("no-such-flag", true, { customerId: "customer-1" })).to.equal(true);
    expect(await flags.boolean("no-such-flag", false, { customerId: "customer-1" })).to.equal(false);
  });

  it("records each evaluation as a feature_flag.evaluation event on the call's server span", async () => {
    write(rollout(100));
    flags = await fileFeatureFlags({ file, domain: `test-${domainCount++}`, logger });
    const exporter = new InMemorySpanExporter();
    const { tracer, provider } = createTracing({ sampleRatio: 1, exporter, export: "simple" });
    const server = await serve({
      port: 0,
      logger,
      tracer,
      services: [
        registration(InventoryService, {
          async getItem(req) {
            const on = await flags!.boolean("bulk-pricing", false, { customerId: "alice" });
            return { item: create(ItemSchema, { sku: req.sku, name: String(on) }) };
          },
          listItems: () => ({ items: [] }),
          reserveStock: () => ({}),
          releaseReservation: () => ({}),
          commitReservation: () => ({}),
          adjustStock: () => ({}),
        }),
      ],
    });
    const clients = new ClientFactory();
    try {
      const res = await clients.client(InventoryService, server.url).getItem({ sku: "MUG-001" });
      expect(res.item?.name).to.equal("true");
      const span = exporter.getFinishedSpans().find((s) => s.name === "meshwork.inventory.v1.InventoryService/GetItem");
      const event = span?.events.find((e) => e.name === "feature_flag.evaluation");
      expect(event?.attributes).to.include({ "feature_flag.key": "bulk-pricing", "feature_flag.result.variant": "on" });
    } finally {
      clients.close();
      await server.shutdown();
      await provider.shutdown();
    }
  });

  it("refuses to start without its file, naming it", async () => {
    const error = await fileFeatureFlags({ file: path.join(dir, "missing.json"), domain: `test-${domainCount++}`, logger }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
    expect(String((error as Error).message)).to.match(/missing\.json|ENOENT|no such file/i);
  });
});
