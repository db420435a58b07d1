import { expect } from "chai";
import { freshStore, storeEngines, type FreshStore } from "../../test/support/store-engines.js";
import type { Notification } from "./notification.js";
import type { NotificationDatabase } from "./notification-store.js";
import { openNotificationStore } from "./open-store.js";

function notification(eventId: string, extra: Partial<Notification> = {}): Notification {
  return {
    notificationId: `n-${eventId}`,
    orderId: "o1",
    customerId: "alice",
    channel: "EMAIL",
    eventType: "meshwork.orders.v1.OrderPlaced",
    eventId,
    message: "We received your order o1 for $12.00.",
    createdAt: new Date(Date.UTC(2025, 0, 1)),
    ...extra,
  };
}

for (const engine of storeEngines) {
  describe(`notification store on ${engine}`, () => {
    let fresh: FreshStore;
    let store: NotificationDatabase;
    beforeEach(async () => {
      fresh = await freshStore(engine, "notifications");
      store = await openNotificationStore(fresh.location);
    });
    afterEach(async () => {
      await store.close();
      await fresh.dispose();
    });

    it("keeps notifications across a reopen, with its own tables and the inbox's", async () => {
      expect(await store.insert(notification("e1"))).to.equal(true);
      await store.close();
      store = await openNotificationStore(fresh.location);

      expect(await store.listForOrder("alice", "o1", 10)).to.deep.equal([{ sequence: 1, ...notification("e1") }]);
      const tables = (
        engine === "sqlite"
          ? await fresh.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
          : await fresh.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")
      ).map((t) => t.name);
      expect(tables).to.include.members(["notifications", "inbox", "dead_letters", "consumer_position"]);
      if (engine === "sqlite") {
        expect((await fresh.query<{ journal_mode: string }>("PRAGMA journal_mode"))[0]!.journal_mode).to.equal("wal");
      }
    });

    it("stores one notification per event id, whatever else differs", async () => {
      expect(await store.insert(notification("e1"))).to.equal(true);
      expect(await store.insert(notification("e1", { notificationId: "n-other", message: "again" }))).to.equal(false);

      expect((await store.listForOrder("alice", "o1", 10)).map((n) => n.notificationId)).to.deep.equal(["n-e1"]);
    });

    it("lists one customer's notifications about one order, in recording order, after a cursor", async () => {
      await store.insert(notification("e1"));
      await store.insert(notification("e2", { orderId: "o2" }));
      await store.insert(notification("e3", { customerId: "bob" }));
      await store.insert(notification("e4", { createdAt: new Date(Date.UTC(2024, 0, 1)) }));
      await store.insert(notification("e5"));

      const all = await store.listForOrder("alice", "o1", 10);
      expect(all.map((n) => n.eventId)).to.deep.equal(["e1", "e4", "e5"]);
      expect((await store.listForOrder("alice", "o1", 2)).map((n) => n.eventId)).to.deep.equal(["e1", "e4"]);
      expect((await store.listForOrder("alice", "o1", 10, { sequence: all[1]!.sequence })).map((n) => n.eventId)).to.deep.equal(["e5"]);
      expect((await store.listForOrder("bob", "o1", 10)).map((n) => n.eventId)).to.deep.equal(["e3"]);
      expect(await store.listForOrder("carol", "o1", 10)).to.deep.equal([]);
    });

    it("records a handler's notification with the event's inbox row, or neither", async () => {
      const envelope = { id: "e1" } as Parameters<typeof store.events.inbox.handleOnce>[1];
      let failed: unknown;
      await store.events.inbox
        .handleOnce("notifications", envelope, async (tx) => {
          await tx.insert(notification("e1"));
          throw new Error("boom");
        })
        .catch((err: unknown) => (failed = err));
      expect(String(failed)).to.contain("boom");
      expect(await store.listForOrder("alice", "o1", 10)).to.deep.equal([]);

      expect(await store.events.inbox.handleOnce("notifications", envelope, async (tx) => void (await tx.insert(notification("e1"))))).to.equal("handled");
      expect(await store.events.inbox.handleOnce("notifications", envelope, async () => expect.fail("a duplicate is not applied"))).to.equal("duplicate");
      expect((await store.listForOrder("alice", "o1", 10)).map((n) => n.eventId)).to.deep.equal(["e1"]);
    });
  });
}
