import { timestampDate } from "@bufbuild/protobuf/wkt";
import { expect } from "chai";
import { pino } from "pino";
import { Channel, NotificationService } from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { ClientFactory, Code, ConnectError, reasonOf, registration, serve, type MeshServer } from "../../mesh/index.js";
import { createNotificationDomain, type NotificationDomain } from "./domain.js";
import { createNotificationHandler } from "./handler.js";
import type { OrderEvent } from "./notification.js";
import { openSqliteNotificationStore, type SqliteNotificationStore } from "./sqlite-store.js";

const as = (customerId: string) => ({ headers: { "x-customer-id": customerId } });

const event = (orderId: string, eventId: string, customerId = "alice"): OrderEvent => ({
  eventId,
  eventType: "meshwork.orders.v1.OrderConfirmed",
  orderId,
  customerId,
  change: { kind: "CONFIRMED", totalMinor: 1400, currencyCode: "USD" },
});

async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  expect.fail("expected the call to fail");
}

/** NotificationService served by the real server (validation, interceptors) on an ephemeral port. */
describe("createNotificationHandler over serve()", () => {
  let store: SqliteNotificationStore;
  let domain: NotificationDomain;
  let server: MeshServer;
  let clients: ClientFactory;
  const client = () => clients.client(NotificationService, server.url);

  beforeEach(async () => {
    store = openSqliteNotificationStore(":memory:");
    domain = createNotificationDomain(store, { now: () => new Date(Date.UTC(2025, 0, 2)) });
    server = await serve({
      services: [registration(NotificationService, createNotificationHandler(domain))],
      logger: pino({ enabled: false }),
      port: 0,
    });
    clients = new ClientFactory();
  });
  afterEach(async () => {
    clients.close();
    await server.shutdown();
    await store.close();
  });

  it("maps a notification with its channel, event and timestamp", async () => {
    await domain.record(event("o1", "e1"));

    const { notifications, nextPageToken } = await client().listNotifications({ orderId: "o1" }, as("alice"));

    expect(nextPageToken).to.equal("");
    expect(notifications).to.have.length(1);
    expect(notifications[0]).to.include({
      orderId: "o1",
      customerId: "alice",
      channel: Channel.EMAIL,
      eventType: "meshwork.orders.v1.OrderConfirmed",
      eventId: "e1",
      message: "Your order o1 is confirmed: $14.00 was charged.",
    });
    expect(notifications[0]?.notificationId).to.match(/^[0-9a-f-]{36}$/);
    expect(timestampDate(notifications[0]!.createdAt!)).to.deep.equal(new Date(Date.UTC(2025, 0, 2)));
  });

  it("answers another customer's order with an empty list", async () => {
    await domain.record(event("o1", "e1", "alice"));

    expect((await client().listNotifications({ orderId: "o1" }, as("bob"))).notifications).to.deep.equal([]);
  });

  it("pages with next_page_token until the last page", async () => {
    for (let i = 1; i <= 3; i++) {
      await domain.record(event("o1", `e${i}`));
    }
    const first = await client().listNotifications({ orderId: "o1", pageSize: 2 }, as("alice"));
    const second = await client().listNotifications({ orderId: "o1", pageSize: 2, pageToken: first.nextPageToken }, as("alice"));

    expect(first.notifications.map((n) => n.eventId)).to.deep.equal(["e1", "e2"]);
    expect(second.notifications.map((n) => n.eventId)).to.deep.equal(["e3"]);
    expect(second.nextPageToken).to.equal("");
  });

  it("refuses a call without x-customer-id, a malformed one, and a bad page token", async () => {
    const missing = await refusal(client().listNotifications({ orderId: "o1" }));
    const malformed = await refusal(client().listNotifications({ orderId: "o1" }, as("has space")));
    const badToken = await refusal(client().listNotifications({ orderId: "o1", pageToken: "nope" }, as("alice")));

    expect([missing.code, reasonOf(missing)]).to.deep.equal([Code.Unauthenticated, "MISSING_CUSTOMER_ID"]);
    expect([malformed.code, reasonOf(malformed)]).to.deep.equal([Code.InvalidArgument, "INVALID_CUSTOMER_ID"]);
    expect([badToken.code, reasonOf(badToken)]).to.deep.equal([Code.InvalidArgument, "INVALID_PAGE_TOKEN"]);
  });

  it("validates the request from the contract before the handler runs", async () => {
    for (const request of [{ orderId: "" }, { orderId: "x".repeat(65) }, { orderId: "o1", pageSize: 101 }, { orderId: "o1", pageSize: -1 }]) {
      const err = await refusal(client().listNotifications(request, as("alice")));
      expect(err.code, JSON.stringify(request)).to.equal(Code.InvalidArgument);
    }
  });
});
