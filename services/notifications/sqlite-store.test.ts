import Database from "better-sqlite3";
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Notification } from "./notification.js";
import { openSqliteNotificationStore, type SqliteNotificationStore } from "./sqlite-store.js";

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

describe("openSqliteNotificationStore", () => {
  let dir: string;
  let path: string;
  let store: SqliteNotificationStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "notifications-"));
    path = join(dir, "notifications.db");
    store = openSqliteNotificationStore(path);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps notifications across a reopen, with its own tables and the inbox's", () => {
    expect(store.insert(notification("e1"))).to.equal(true);
    store.close();
    store = openSqliteNotificationStore(path);

    expect(store.listForOrder("alice", "o1", 10)).to.deep.equal([{ sequence: 1, ...notification("e1") }]);
    const db = new Database(path, { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]).sort();
      expect(tables).to.include("notifications");
      expect(tables.length).to.be.greaterThan(2);
      expect(db.pragma("journal_mode", { simple: true })).to.equal("wal");
    } finally {
      db.close();
    }
  });

  it("stores one notification per event id, whatever else differs", () => {
    expect(store.insert(notification("e1"))).to.equal(true);
    expect(store.insert(notification("e1", { notificationId: "n-other", message: "again" }))).to.equal(false);

    expect(store.listForOrder("alice", "o1", 10).map((n) => n.notificationId)).to.deep.equal(["n-e1"]);
  });

  it("lists one customer's notifications about one order, in recording order, after a cursor", () => {
    store.insert(notification("e1"));
    store.insert(notification("e2", { orderId: "o2" }));
    store.insert(notification("e3", { customerId: "bob" }));
    store.insert(notification("e4", { createdAt: new Date(Date.UTC(2024, 0, 1)) }));
    store.insert(notification("e5"));

    const all = store.listForOrder("alice", "o1", 10);
    expect(all.map((n) => n.eventId)).to.deep.equal(["e1", "e4", "e5"]);
    expect(store.listForOrder("alice", "o1", 2).map((n) => n.eventId)).to.deep.equal(["e1", "e4"]);
    expect(store.listForOrder("alice", "o1", 10, { sequence: all[1]!.sequence }).map((n) => n.eventId)).to.deep.equal(["e5"]);
    expect(store.listForOrder("bob", "o1", 10).map((n) => n.eventId)).to.deep.equal(["e3"]);
    expect(store.listForOrder("carol", "o1", 10)).to.deep.equal([]);
  });
});
