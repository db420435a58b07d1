import { fromBinary } from "@bufbuild/protobuf";
import { expect } from "chai";
import { EnvelopeSchema } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { StockChangeCause, StockLevelChangedSchema } from "../../gen/meshwork/inventory/v1/events_pb.js";
import { unpackEnvelope } from "../../mesh/events/index.js";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import { Inventory } from "./inventory.js";
import type { InventoryStore } from "./inventory-store.js";
import { openInventoryStore } from "./open-store.js";

const start = Date.parse("2030-01-01T00:00:00Z");

/** Stock events (the inventory outbox): one StockLevelChanged per item moved, written with the move. */
for (const engine of storeEngines) describe(`stock events on ${engine}`, () => {
  let fresh: FreshStore;
  let store: InventoryStore;
  let inventory: Inventory;
  let nowMs: number;
  let commits: number;
  beforeEach(async () => {
    commits = 0;
    fresh = await freshStore(engine, "inventory");
    store = await openInventoryStore(fresh.location, { onEventsCommitted: () => commits++ });
    nowMs = start;
    inventory = new Inventory({ store, now: () => nowMs });
  });
  afterEach(async () => {
    await store.close();
    await fresh.dispose();
  });

  /** The outbox as written, decoded: [stream, subject, sku, available, reserved, cause, order id]. */
  const outbox = async () =>
    (await fresh.query<{ stream: string; envelope: Uint8Array }>("SELECT stream, envelope FROM outbox ORDER BY seq")).map((row) => {
      const envelope = fromBinary(EnvelopeSchema, row.envelope);
      const data = unpackEnvelope(envelope, StockLevelChangedSchema)!;
      return [row.stream, envelope.subject, data.sku, Number(data.available), Number(data.reserved), data.cause, data.orderId];
    });

  it("records every move with the levels after it: reserve, commit, release, expire, adjust", async () => {
    await inventory.reserve({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 2 }, { sku: "CAP-001", quantity: 1 }] });
    await inventory.commit("o1");
    await inventory.reserve({ orderId: "o2", lines: [{ sku: "MUG-001", quantity: 3 }] });
    await inventory.release("o2");
    await inventory.reserve({ orderId: "o3", lines: [{ sku: "MUG-001", quantity: 1 }], ttlMs: 1000 });
    nowMs += 1000;
    await inventory.expireDue();
    await inventory.adjust({ adjustmentId: "a1", sku: "MUG-001", delta: 5, reason: "restock" });

    expect(await outbox()).to.deep.equal([
      ["inventory", "MUG-001", "MUG-001", 98, 2, StockChangeCause.RESERVED, "o1"],
      ["inventory", "CAP-001", "CAP-001", 34, 1, StockChangeCause.RESERVED, "o1"],
      ["inventory", "MUG-001", "MUG-001", 98, 0, StockChangeCause.COMMITTED, "o1"],
      ["inventory", "CAP-001", "CAP-001", 34, 0, StockChangeCause.COMMITTED, "o1"],
      ["inventory", "MUG-001", "MUG-001", 95, 3, StockChangeCause.RESERVED, "o2"],
      ["inventory", "MUG-001", "MUG-001", 98, 0, StockChangeCause.RELEASED, "o2"],
      ["inventory", "MUG-001", "MUG-001", 97, 1, StockChangeCause.RESERVED, "o3"],
      ["inventory", "MUG-001", "MUG-001", 98, 0, StockChangeCause.EXPIRED, "o3"],
      ["inventory", "MUG-001", "MUG-001", 103, 0, StockChangeCause.ADJUSTED, ""],
    ]);
    expect(commits).to.equal(7);
  });

  it("records nothing for a replay, a read or a refused call", async () => {
    await inventory.reserve({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 2 }] });
    await inventory.reserve({ orderId: "o1", lines: [{ sku: "MUG-001", quantity: 2 }] });
    await inventory.getItem("MUG-001");
    let refused: unknown;
    await inventory.reserve({ orderId: "o2", lines: [{ sku: "CAP-001", quantity: 1 }, { sku: "MUG-001", quantity: 1000 }] }).catch((err: unknown) => (refused = err));
    expect(String(refused)).to.match(/only/);

    expect((await outbox()).map((row) => row[6])).to.deep.equal(["o1"]);
    expect(commits).to.equal(1);
  });
});
