import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  Channel as ChannelMessage,
  NotificationSchema,
  type Notification as NotificationMessage,
  type NotificationService,
} from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { callingCustomerId } from "../../mesh/index.js";
import type { NotificationDomain } from "./domain.js";
import type { Channel, Notification } from "./notification.js";

/**
 * NotificationService over the notifications domain: proto in, domain call,
 * proto out. Request fields are already validated by the mesh
 * (protovalidate); the customer comes from the x-customer-id header the
 * gateway sets from a verified token.
 */
export function createNotificationHandler(domain: NotificationDomain): ServiceImpl<typeof NotificationService> {
  return {
    async listNotifications(request, context) {
      const page = await domain.listNotifications(callingCustomerId(context.requestHeader), request.orderId, request.pageSize, request.pageToken);
      return { notifications: page.notifications.map(toMessage), nextPageToken: page.nextPageToken };
    },
  };
}

const channelMessages: Record<Channel, ChannelMessage> = {
  EMAIL: ChannelMessage.EMAIL,
  PUSH: ChannelMessage.PUSH,
};

function toMessage(notification: Notification): NotificationMessage {
  return create(NotificationSchema, {
    notificationId: notification.notificationId,
    orderId: notification.orderId,
    customerId: notification.customerId,
    channel: channelMessages[notification.channel],
    eventType: notification.eventType,
    eventId: notification.eventId,
    message: notification.message,
    createdAt: timestampFromMs(notification.createdAt.getTime()),
  });
}
