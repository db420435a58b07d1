import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultTextMapSetter, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { expect } from "chai";
import { OrderConfirmedSchema } from "../../gen/meshwork/orders/v1/events_pb.js";
import { createLogger } from "../logger.js";
import { openEventsDatabase, type EffectTx, type EventsDatabase } from "../../test/support/events-database.js";
import { startConsumer } from "./consumer.js";
import { createEnvelope } from "./envelope.js";
import type { Delivery, EventBus, SubscribeOptions } from "./event-bus.js";
import { on } from "./event-handler.js";

const logger = createLogger("consumer-test", "silent");

/** A bus that hands the test each subscription's handle, to drive deliveries one by one. */
function manualBus(): EventBus & { deliver(delivery: Delivery): Promise<void> } {
  let handle: SubscribeOptions["handle"] | undefined;
  return {
    publish: async () => {},
    subscribe: (options) => {
      handle = options.handle;
      return { stop: async () => {} };
    },
    close: async () => {},
    deliver: (delivery) => handle!(delivery),
  };
}

describe("startConsumer", () => {
  let dir: string;
  let db: EventsDatabase;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-consumer-"));
    db = await openEventsDatabase({ engine: "sqlite", path: path.join(dir, "c.db") }, "consumer");
  });

  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("handles each event in a CONSUMER span linked to the producer's span", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer("test");
    const producerSpan = tracer.startSpan("PlaceOrder");
    const carrier: Record<string, string> = {};
    new W3CTraceContextPropagator().inject(trace.setSpan(ROOT_CONTEXT, producerSpan), carrier, defaultTextMapSetter);
    const envelope = createEnvelope(OrderConfirmedSchema, { orderId: "ord-1" }, { source: "meshwork.orders", subject: "ord-1" });
    envelope.traceparent = carrier["traceparent"]!;

    const bus = manualBus();
    startConsumer({
      bus,
      inbox: db.events.inbox,
      stream: "orders",
      durable: "notifications",
      logger,
      tracer,
      handlers: [on(OrderConfirmedSchema, (data, envelope, tx: EffectTx) => tx.recordEffect(data.orderId, envelope.id))],
    });
    await bus.deliver({ envelope, attempt: 1 });

    const [span] = exporter.getFinishedSpans();
    expect(span?.name).to.equal("process orders");
    expect(span?.kind).to.equal(SpanKind.CONSUMER);
    expect(span?.links.map((l) => l.context.spanId)).to.deep.equal([producerSpan.spanContext().spanId]);
    expect(span?.spanContext().traceId).to.not.equal(producerSpan.spanContext().traceId);
    expect(span?.attributes).to.include({
      "messaging.destination.name": "orders",
      "messaging.consumer.group.name": "notifications",
      "messaging.message.id": envelope.id,
    });
  });

  it("acknowledges an event type it has no handler for, without an effect", async () => {
    const bus = manualBus();
    startConsumer({ bus, inbox: db.events.inbox, stream: "orders", durable: "n", logger, handlers: [] });
    const envelope = createEnvelope(OrderConfirmedSchema, { orderId: "ord-1" }, { source: "s", subject: "ord-1" });
    await bus.deliver({ envelope, attempt: 1 });
    expect(await db.inboxSize("n")).to.equal(0);
  });
});
