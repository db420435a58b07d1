// Who publishes and consumes which event stream in the demo shop: the subject
// permissions of the NATS users natsServerConfig generates. A new stream or
// consumer goes here with the code that publishes or consumes it.
import type { NatsAccessPlan } from "../../mesh/events/nats-server-config.js";
import { inventoryStream } from "../../services/inventory/events.js";
import { notificationsConsumer, ordersStream as consumedOrders } from "../../services/notifications/order-events.js";
import { ordersStream } from "../../services/orders/events.js";

export const meshworkNatsPlan: NatsAccessPlan = {
  publishers: { orders: [ordersStream], inventory: [inventoryStream] },
  consumers: { notifications: [{ stream: consumedOrders, durable: notificationsConsumer }] },
};
