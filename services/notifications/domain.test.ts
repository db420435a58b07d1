import { expect } from "chai";
import { Code, ConnectError, reasonOf } from "../../mesh/errors.js";
import { createNotificationDomain, messageFor, type NotificationDomain } from "./domain.js";
import type { OrderEvent } from "./notification.js";
import { openSqliteNotificationStore, type SqliteNotificationStore } from "./sqlite-store.js";

const placed = (orderId: string, eventId: string, customerId = "alice"): OrderEvent => ({
  eventId,
  eventType: "meshwork.orders.v1.OrderPlaced",
  orderId,
  customerId,
  change: { kind: "PLACED", totalMinor: 2800, currencyCode: "USD" },
});

describe("createNotificationDomain", () => {
  let store: SqliteNotificationStore;
  let domain: NotificationDomain;
  let ids: number;
  beforeEach(async () => {
    store = openSqliteNotificationStore(":memory:");
    ids = 0;
    domain = createNotificationDomain(store, {
      now: () => new Date(Date.UTC(2025, 0, 1)),
      newNotificationId: () => `n${++ids}`,
    });
  });
  afterEach(async () => store.close());

  it("records one email per order event, however often the event comes", async () => {
    expect(await domain.record(placed("o1", "e1"))).to.equal(true);
    expect(await domain.record(placed("o1", "e1"))).to.equal(false);

    expect(await domain.listNotifications("alice", "o1", 0, "")).to.deep.equal({
      notifications: [
        {
          notificationId: "n1",
          orderId: "o1",
          customerId: "alice",
          channel: "EMAIL",
          eventType: "meshwork.orders.v1.OrderPlaced",
          eventId: "e1",
          message: "We received your order o1 for $28.00.",
          createdAt: new Date(Date.UTC(2025, 0, 1)),
        },
      ],
      nextPageToken: "",
    });
  });

  it("shows another customer's order as having none", async () => {
    await domain.record(placed("o1", "e1", "alice"));

    expect((await domain.listNotifications("bob", "o1", 0, "")).notifications).to.deep.equal([]);
  });

  it("pages oldest first with a token, and refuses a token it did not issue", async () => {
    for (let i = 1; i <= 5; i++) {
      await domain.record(placed("o1", `e${i}`));
    }
    const first = await domain.listNotifications("alice", "o1", 2, "");
    const second = await domain.listNotifications("alice", "o1", 2, first.nextPageToken);
    const third = await domain.listNotifications("alice", "o1", 2, second.nextPageToken);

    expect([first, second, third].map((p) => p.notifications.map((n) => n.eventId))).to.deep.equal([
      ["e1", "e2"],
      ["e3", "e4"],
      ["e5"],
    ]);
    expect(third.nextPageToken).to.equal("");
    for (const token of ["nope", Buffer.from("[0]").toString("base64url"), Buffer.from('["x"]').toString("base64url")]) {
      let err: ConnectError | undefined;
      try {
        await domain.listNotifications("alice", "o1", 2, token);
      } catch (e) {
        err = ConnectError.from(e);
      }
      expect([err?.code, err && reasonOf(err)], token).to.deep.equal([Code.InvalidArgument, "INVALID_PAGE_TOKEN"]);
    }
  });

  it("words each kind of order event for the customer", async () => {
    expect(messageFor("o1", { kind: "PLACED", totalMinor: 2800, currencyCode: "USD" })).to.equal(
      "We received your order o1 for $28.00.",
    );
    expect(messageFor("o1", { kind: "CONFIRMED", totalMinor: 1900, currencyCode: "EUR" })).to.equal(
      "Your order o1 is confirmed: €19.00 was charged.",
    );
    expect(messageFor("o1", { kind: "CONFIRMED", totalMinor: 500, currencyCode: "JPY" })).to.equal(
      "Your order o1 is confirmed: ¥500 was charged.",
    );
    expect(
      messageFor("o1", { kind: "CANCELLED", reason: "PAYMENT_DECLINED", detail: "the card was declined (CARD_DECLINED)" }),
    ).to.equal("Your order o1 was cancelled: the card was declined (CARD_DECLINED). No money was taken.");
    expect(messageFor("o1", { kind: "CANCELLED", reason: "OUT_OF_STOCK", detail: "" })).to.equal(
      "Your order o1 was cancelled: an item is out of stock. No money was taken.",
    );
  });
});
