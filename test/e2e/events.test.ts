import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DeadLetterService } from "../../gen/meshwork/events/v1/dead_letters_pb.js";
import { DevTokens } from "../support/gateway-http.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import type { ServiceProcess } from "../support/service-process.js";
import { TestClients } from "../support/test-identity.js";

interface NotificationJson {
  readonly notificationId: string;
  readonly orderId: string;
  readonly customerId: string;
  readonly channel: string;
  readonly eventType: string;
  readonly eventId: string;
  readonly message: string;
}

interface OrderJson {
  readonly orderId: string;
  readonly state: string;
}

const placedType = "meshwork.orders.v1.OrderPlaced";
const confirmedType = "meshwork.orders.v1.OrderConfirmed";
const cancelledType = "meshwork.orders.v1.OrderCancelled";

/**
 * Order events end to end, every service its own process: orders writes them
 * through its outbox, the bus carries them, notifications records one
 * notification per event, and customers read them through the gateway. The
 * same suite runs on the embedded bus and on a real nats-server (JetStream);
 * on NATS it also stops the server mid-run.
 */
for (const kind of ["embedded", "nats"] as const) {
  describe(`events end to end, ${kind} bus`, function () {
    this.timeout(120_000);
    let nats: NatsServer | undefined;
    let mesh: TestMesh;
    let tokens: DevTokens;
    let clients: TestClients;
    /** The processes running now: restarts replace them. */
    let orders: ServiceProcess;
    let notifications: ServiceProcess;

    before(async () => {
      nats = kind === "nats" ? await startNatsServer() : undefined;
      mesh = await startMesh({
        env: nats === undefined ? {} : { NATS_URL: nats.url },
        // The tests poll; the rate limit is not what they are about.
        gateway: { RATE_LIMIT_PER_SECOND: "10000", RATE_LIMIT_BURST: "10000" },
      });
      orders = mesh.orders;
      notifications = mesh.notifications;
      tokens = new DevTokens(mesh.dataDir);
      clients = new TestClients();
    });
    after(async () => {
      clients?.close();
      await Promise.all([orders?.stop(), notifications?.stop()]);
      await mesh?.stop();
      await nats?.dispose();
    });

    const gateway = () => mesh.gateway!.url;
    const auth = async (customer: string) => ({ authorization: `Bearer ${await tokens.sign(customer)}` });

    /** PlaceOrder through the gateway's REST API; resolves with the HTTP status and body. */
    async function placeOrder(customer: string, cardToken: string, requestId = `r-${randomUUID()}`) {
      const res = await fetch(`${gateway()}/v1/orders`, {
        method: "POST",
        headers: { ...(await auth(customer)), "content-type": "application/json" },
        body: JSON.stringify({ requestId, lines: [{ sku: "STICKER-001", quantity: 1 }], cardToken }),
      });
      return { status: res.status, body: (await res.json()) as { order?: OrderJson } };
    }

    async function placed(customer: string, cardToken: string, requestId?: string): Promise<OrderJson> {
      const { status, body } = await placeOrder(customer, cardToken, requestId);
      expect(status, JSON.stringify(body)).to.equal(200);
      return body.order!;
    }

    async function listNotifications(customer: string, orderId: string): Promise<NotificationJson[]> {
      const res = await fetch(`${gateway()}/v1/orders/${encodeURIComponent(orderId)}/notifications`, { headers: await auth(customer) });
      const body = (await res.json()) as { notifications?: NotificationJson[] };
      expect(res.status, JSON.stringify(body)).to.equal(200);
      return body.notifications ?? [];
    }

    /** Polls until the order has `count` notifications (or more), or fails after 60 s. */
    async function awaitNotifications(customer: string, orderId: string, count = 2): Promise<NotificationJson[]> {
      let seen: NotificationJson[] = [];
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
        seen = await listNotifications(customer, orderId);
        if (seen.length >= count) {
          return seen;
        }
      }
      expect.fail(`order ${orderId} has ${seen.length} notifications, expected ${count}: ${JSON.stringify(seen)}`);
    }

    /** Each event once, in the order the events were written. */
    function expectOnceEach(list: NotificationJson[], orderId: string, customer: string, types: string[]): void {
      expect(list.map((n) => n.eventType)).to.deep.equal(types);
      expect(new Set(list.map((n) => n.eventId)).size).to.equal(types.length);
      for (const n of list) {
        expect(n).to.include({ orderId, customerId: customer, channel: "CHANNEL_EMAIL" });
      }
    }

    it("notifies the customer of a confirmed and of a declined order, once per event, and no one else", async () => {
      const customer = `alice-${kind}`;
      const confirmed = await placed(customer, "tok_visa");
      const declined = await placed(customer, "tok_declined");
      expect([confirmed.state, declined.state]).to.deep.equal(["ORDER_STATE_CONFIRMED", "ORDER_STATE_CANCELLED"]);

      const forConfirmed = await awaitNotifications(customer, confirmed.orderId);
      const forDeclined = await awaitNotifications(customer, declined.orderId);

      expectOnceEach(forConfirmed, confirmed.orderId, customer, [placedType, confirmedType]);
      expect(forConfirmed[0]?.message).to.equal(`We received your order ${confirmed.orderId} for $5.00.`);
      expect(forConfirmed[1]?.message).to.equal(`Your order ${confirmed.orderId} is confirmed: $5.00 was charged.`);
      expectOnceEach(forDeclined, declined.orderId, customer, [placedType, cancelledType]);
      expect(forDeclined[1]?.message).to.match(new RegExp(`^Your order ${declined.orderId} was cancelled: the card was declined \\(CARD_DECLINED\\)`));
      expect(await listNotifications(`bob-${kind}`, confirmed.orderId)).to.deep.equal([]);
    });

    it("writes no new event for a replayed PlaceOrder", async () => {
      const customer = `carol-${kind}`;
      const requestId = `replay-${randomUUID()}`;
      const order = await placed(customer, "tok_visa", requestId);
      await awaitNotifications(customer, order.orderId);
      expect((await placed(customer, "tok_visa", requestId)).orderId).to.equal(order.orderId);

      // Events of the stream arrive in order: once a later order's are in, a replay's would have been too.
      const later = await placed(customer, "tok_visa");
      await awaitNotifications(customer, later.orderId);
      expectOnceEach(await listNotifications(customer, order.orderId), order.orderId, customer, [placedType, confirmedType]);
    });

    it("serves the notifications route in the gateway's OpenAPI document, for customers", async () => {
      const doc = (await (await fetch(`${gateway()}/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown }>> };
      const get = doc.paths["/v1/orders/{order_id}/notifications"]?.["get"];
      expect(get, Object.keys(doc.paths).join(", ")).to.not.equal(undefined);
      expect(JSON.stringify(get?.security)).to.not.equal("[]");
      expect(doc.paths["/v1/orders/{order_id}"]?.["get"]).to.not.equal(undefined);
    });

    if (kind === "nats") {
      it("loses no event when nats-server stops and restarts while orders are placed", async () => {
        const customer = `dave-${kind}`;
        const before = [await placed(customer, "tok_visa"), await placed(customer, "tok_declined")];
        await nats!.stop();
        // Orders keeps taking orders: their events wait in its outbox.
        const during = [await placed(customer, "tok_visa"), await placed(customer, "tok_declined"), await placed(customer, "tok_visa")];
        await nats!.restart();
        const after = [await placed(customer, "tok_visa")];

        for (const order of [...before, ...during, ...after]) {
          const ending = order.state === "ORDER_STATE_CONFIRMED" ? confirmedType : cancelledType;
          expectOnceEach(await awaitNotifications(customer, order.orderId), order.orderId, customer, [placedType, ending]);
        }
      });
    }

    it("delivers an event exactly once after orders is killed between its commit and its publish", async () => {
      const customer = `erin-${kind}`;
      // The relay SIGKILLs its own process just before publishing the first event it finds.
      const crashing = await orders.restart({ OUTBOX_TEST_CRASH: "before-publish" });
      orders = crashing;
      const attempt = placeOrder(customer, "tok_visa").catch((err: unknown) => err);
      const exit = await crashing.exited;
      expect(exit.signal).to.equal("SIGKILL");
      expect(crashing.logs.find((l) => l["OUTBOX_TEST_CRASH"] === "before-publish"), "the armed fault's warning").to.include({ level: 40 });
      await attempt;

      // Same port and data directory, without the fault: the outbox still holds the event.
      orders = await crashing.restart();
      let mine: OrderJson[] = [];
      for (const deadline = Date.now() + 60_000; mine.length === 0 && Date.now() < deadline; await sleep(100)) {
        const res = await fetch(`${gateway()}/v1/orders`, { headers: await auth(customer) });
        mine = res.status === 200 ? (((await res.json()) as { orders?: OrderJson[] }).orders ?? []) : [];
      }
      expect(mine, "the order committed before the crash").to.have.length(1);
      const orderId = mine[0]!.orderId;
      // The restarted saga resumes the order from its stored step; tok_visa
      // approves, so it ends CONFIRMED (as every crash point of the saga does
      // in test/e2e/saga-crash.test.ts), and its events follow the placed one.
      await awaitNotifications(customer, orderId);
      const later = await placed(customer, "tok_visa");
      await awaitNotifications(customer, later.orderId);
      expectOnceEach(await listNotifications(customer, orderId), orderId, customer, [placedType, confirmedType]);
      const got = (await (await fetch(`${gateway()}/v1/orders/${orderId}`, { headers: await auth(customer) })).json()) as { order?: OrderJson };
      expect(got.order?.state).to.equal("ORDER_STATE_CONFIRMED");
    });

    it("dead-letters a poison event after its attempts and records it once when replayed after the fix", async () => {
      const customer = `mallory-${kind}`;
      notifications = await notifications.restart({ NOTIFICATIONS_TEST_FAIL_CUSTOMER: customer, NOTIFICATIONS_MAX_ATTEMPTS: "3" });
      expect(notifications.logs.find((l) => l["NOTIFICATIONS_TEST_FAIL_CUSTOMER"] === customer), "the armed fault's warning").to.include({ level: 40 });
      const order = await placed(customer, "tok_visa");
      const deadLetters = () => clients.client(DeadLetterService, notifications.url);
      const mineDead = async () =>
        (await deadLetters().listDeadLetters({ consumer: "notifications" })).deadLetters.filter((l) => l.envelope?.subject === order.orderId);

      let dead = await mineDead();
      for (const deadline = Date.now() + 60_000; dead.length < 2 && Date.now() < deadline; await sleep(100)) {
        dead = await mineDead();
      }
      expect(dead.map((l) => [l.envelope?.type, l.attempts])).to.deep.equal([
        [placedType, 3],
        [confirmedType, 3],
      ]);
      expect(dead[0]?.lastError).to.contain("test fault");
      // The consumer moved on: a later order of another customer is notified.
      const other = await placed(`frank-${kind}`, "tok_visa");
      await awaitNotifications(`frank-${kind}`, other.orderId);
      expect(await listNotifications(customer, order.orderId)).to.deep.equal([]);

      // Fixed: the same process without the fault, then replay each dead letter.
      notifications = await notifications.restart();
      for (const letter of dead) {
        const replayed = await deadLetters().replayDeadLetter({ consumer: "notifications", eventId: letter.envelope!.id });
        expect(replayed.handled, replayed.error).to.equal(true);
      }
      expect(await mineDead()).to.deep.equal([]);
      const again = await deadLetters().replayDeadLetter({ consumer: "notifications", eventId: dead[0]!.envelope!.id });
      expect(again.handled).to.equal(true);
      expectOnceEach(await listNotifications(customer, order.orderId), order.orderId, customer, [placedType, confirmedType]);
    });
  });
}
