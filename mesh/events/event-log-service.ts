import { create } from "@bufbuild/protobuf";
import { EventLogService, SubscribeResponseSchema } from "../../gen/meshwork/events/v1/event_log_pb.js";
import { Code, ConnectError } from "../errors.js";
import { registration, type ServiceRegistration } from "../server/serve.js";
import { isEmbeddedBus } from "./embedded-bus.js";
import type { EventBus } from "./event-bus.js";
import type { EventLog } from "./event-log.js";

/** How many events one read of the log takes: bounds memory per subscriber, not throughput. */
const batchSize = 256;

const streamPattern = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * EventLogService over a producer's log, for `serve`: Subscribe replays the
 * stream after the consumer's position in bounded batches, then follows new
 * appends as this process makes them (woken by the log, not polling), until
 * the consumer cancels or the log is closed (then the stream ends and the
 * consumer reconnects). Close the log before shutting the server down, so that
 * open subscriptions end at once instead of at the grace period.
 */
export function eventLogService(log: EventLog): ServiceRegistration {
  return registration(EventLogService, {
    async *subscribe(request, context) {
      // Streaming calls do not pass through serve's validating interceptor.
      if (!streamPattern.test(request.stream)) {
        throw new ConnectError(`invalid stream name "${request.stream}"`, Code.InvalidArgument);
      }
      let after = Number(request.afterSequence);
      while (!context.signal.aborted && !log.isClosed) {
        const events = await log.read(request.stream, after, batchSize);
        for (const { sequence, envelope } of events) {
          yield create(SubscribeResponseSchema, { sequence: BigInt(sequence), envelope });
          after = sequence;
        }
        if (events.length < batchSize) {
          await log.waitForAppend(request.stream, after, context.signal);
        }
      }
    },
  });
}

/**
 * What a producing process serves for its bus: EventLogService over its log
 * on the embedded bus, nothing on NATS (the server serves the streams).
 */
export function eventBusServices(bus: EventBus): ServiceRegistration[] {
  return isEmbeddedBus(bus) ? [eventLogService(bus.log)] : [];
}
