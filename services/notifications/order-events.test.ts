import { expect } from "chai";
import { pino } from "pino";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { DeadLetterService } from "../../gen/meshwork/events/v1/dead_letters_pb.js";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderPlacedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { CancelReason } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { createEmbeddedBus, createEnvelope, deadLetterService, eventLogService, startConsumer, type EmbeddedBus } from "../../mesh/events/index.js";
import { ClientFactory, serve, type MeshServer } from "../../mesh/index.js";
import { openEventsDatabase, type EventsDatabase } from "../../test/support/events-database.js";
import type { Subscription } from "../../mesh/events/index.js";
import { createNotificationDomain, type NotificationDomain } from "./domain.js";
import type { Notification } from "./notification.js";
import { notificationsConsumer, orderEventHandlers, ordersStream } from "./order-events.js";
import { openSqliteNotificationStore, type SqliteNotificationStore } from "./sqlite-store.js";
import { eventually } from "../../test/support/eventually.js";

const source = { source: "meshwork.orders" };
const logger = pino({ enabled: false });

/**
 * The notifications consumer on the real embedded bus: a producer's event log
 * served over EventLogService on an ephemeral port, the consumer pulling it
 * into the notifications database through the inbox.
 */
describe("orderEventHandlers on the embedded bus", function () {
  this.timeout(20_000);
  let producerDb: EventsDatabase;
  let producerBus: EmbeddedBus;
  let producer: MeshServer;
  let store: SqliteNotificationStore;
  let domain: NotificationDomain;
  let consumerBus: EmbeddedBus;
  let consumer: Subscription;
  let clients: ClientFactory;

  function startNotifications(options: { failForCustomer?: string } = {}): ReturnType<typeof orderEventHandlers> {
    const handlers = orderEventHandlers(domain, options);
    consumerBus = createEmbeddedBus({
      store: store.events,
      sources: { [ordersStream]: producer.url },
      logger,
      redelivery: { initialMs: 10, maxMs: 20 },
    });
    consumer = startConsumer({ bus: consumerBus, inbox: store.events.inbox, stream: ordersStream, durable: notificationsConsumer, handlers, maxAttempts: 3, logger });
    return handlers;
  }

  async function stopNotifications(): Promise<void> {
    await consumer.stop();
    await consumerBus.close();
  }

  beforeEach(async () => {
    producerDb = await openEventsDatabase({ engine: "sqlite", path: ":memory:" }, "producer");
    producerBus = createEmbeddedBus({ store: producerDb.events, logger });
    producer = await serve({ services: [eventLogService(producerBus.log)], logger, port: 0 });
    store = openSqliteNotificationStore(":memory:");
    domain = createNotificationDomain(store);
    clients = new ClientFactory();
  });
  afterEach(async () => {
    await stopNotifications();
    clients.close();
    await producerBus.close();
    await producer.shutdown();
    await producerDb.close();
    await store.close();
  });

  const notificationsOf = async (customerId: string, orderId: string): Promise<Notification[]> =>
    (await domain.listNotifications(customerId, orderId, 100, "")).notifications;
  const publish = (envelope: Envelope) => producerBus.publish(ordersStream, envelope);

  it("records one notification per order event, in order, with the event's id and type", async () => {
    startNotifications();
    const placed = createEnvelope(OrderPlacedSchema, { orderId: "o1", customerId: "alice", totalMinor: 2800n, currencyCode: "USD" }, { ...source, subject: "o1" });
    const cancelled = createEnvelope(
      OrderCancelledSchema,
      { orderId: "o1", customerId: "alice", reason: CancelReason.PAYMENT_DECLINED, detail: "the card was declined (CARD_DECLINED)" },
      { ...source, subject: "o1" },
    );
    const confirmed = createEnvelope(OrderConfirmedSchema, { orderId: "o2", customerId: "bob", totalMinor: 1400n, currencyCode: "USD" }, { ...source, subject: "o2" });
    await publish(placed);
    await publish(cancelled);
    await publish(confirmed);

    const alice = await eventually("alice's two notifications", async () => {
      const all = await notificationsOf("alice", "o1");
      return all.length === 2 ? all : undefined;
    });
    expect(alice.map((n) => [n.eventId, n.eventType, n.channel, n.message])).to.deep.equal([
      [placed.id, "meshwork.orders.v1.OrderPlaced", "EMAIL", "We received your order o1 for $28.00."],
      [cancelled.id, "meshwork.orders.v1.OrderCancelled", "EMAIL", "Your order o1 was cancelled: the card was declined (CARD_DECLINED). No money was taken."],
    ]);
    const bob = await eventually("bob's notification", async () => (await notificationsOf("bob", "o2"))[0]);
    expect(bob.message).to.equal("Your order o2 is confirmed: $14.00 was charged.");
  });

  it("has no second effect when the consumer sees an event again after a restart from scratch", async () => {
    startNotifications();
    const placed = createEnvelope(OrderPlacedSchema, { orderId: "o1", customerId: "alice", totalMinor: 100n, currencyCode: "USD" }, { ...source, subject: "o1" });
    await publish(placed);
    await eventually("the notification", async () => (await notificationsOf("alice", "o1"))[0]);
    await stopNotifications();

    // Forget the consumer's position: the whole stream is delivered again, and only the inbox stands between it and a duplicate.
    store.db.prepare("DELETE FROM consumer_position").run();
    const marker = createEnvelope(OrderPlacedSchema, { orderId: "o2", customerId: "alice", totalMinor: 100n, currencyCode: "USD" }, { ...source, subject: "o2" });
    await publish(marker);
    startNotifications();
    await eventually("the later event", async () => (await notificationsOf("alice", "o2"))[0]);

    expect((await notificationsOf("alice", "o1")).map((n) => n.eventId)).to.deep.equal([placed.id]);
  });

  it("dead-letters an event that keeps failing, moves on, and records it once when replayed after the fix", async () => {
    startNotifications({ failForCustomer: "mallory" });
    const poison = createEnvelope(OrderPlacedSchema, { orderId: "p1", customerId: "mallory", totalMinor: 100n, currencyCode: "USD" }, { ...source, subject: "p1" });
    const next = createEnvelope(OrderPlacedSchema, { orderId: "o1", customerId: "alice", totalMinor: 100n, currencyCode: "USD" }, { ...source, subject: "o1" });
    await publish(poison);
    await publish(next);
    await eventually("the event after the poison one", async () => (await notificationsOf("alice", "o1"))[0]);

    const broken = await serve({ services: [deadLetterService(store.events.inbox, { [notificationsConsumer]: { handlers: orderEventHandlers(domain, { failForCustomer: "mallory" }) } })], logger, port: 0 });
    const fixed = await serve({ services: [deadLetterService(store.events.inbox, { [notificationsConsumer]: { handlers: orderEventHandlers(domain) } })], logger, port: 0 });
    try {
      const letters = (await clients.client(DeadLetterService, broken.url).listDeadLetters({})).deadLetters;
      expect(letters.map((l) => [l.consumer, l.envelope?.id, l.attempts])).to.deep.equal([[notificationsConsumer, poison.id, 3]]);
      expect(letters[0]?.lastError).to.contain("test fault");
      expect(await notificationsOf("mallory", "p1")).to.deep.equal([]);

      const again = await clients.client(DeadLetterService, broken.url).replayDeadLetter({ consumer: notificationsConsumer, eventId: poison.id });
      expect(again.handled).to.equal(false);
      expect(await notificationsOf("mallory", "p1")).to.deep.equal([]);

      const replay = () => clients.client(DeadLetterService, fixed.url).replayDeadLetter({ consumer: notificationsConsumer, eventId: poison.id });
      expect((await replay()).handled).to.equal(true);
      expect((await clients.client(DeadLetterService, fixed.url).listDeadLetters({})).deadLetters).to.deep.equal([]);
      expect((await notificationsOf("mallory", "p1")).map((n) => n.eventId)).to.deep.equal([poison.id]);
      // Replay is idempotent: the event is already handled, so nothing more happens.
      expect((await replay()).handled).to.equal(true);
      expect(await notificationsOf("mallory", "p1")).to.have.length(1);
    } finally {
      await broken.shutdown();
      await fixed.shutdown();
    }
  });
});
