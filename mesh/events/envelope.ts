import { randomUUID } from "node:crypto";
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { defaultTextMapSetter, context as otelContext } from "@opentelemetry/api";
import { EnvelopeSchema, type Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { currentInboundCall } from "../context/inbound-call.js";
import { activeContext } from "../telemetry/active-context.js";
import { propagator } from "../telemetry/propagation.js";

export interface EnvelopeOptions {
  /** The producing service, e.g. "meshwork.orders". */
  readonly source: string;
  /** The aggregate the event is about (e.g. the order id); events of one subject keep their order. */
  readonly subject: string;
  /** Default: a random UUID. Give one only to make a retried write produce the same event. */
  readonly id?: string;
  /** When the state change was committed. Default: now. */
  readonly time?: Date;
}

/**
 * Wraps one event in an envelope: `type` is the payload's message name and
 * `data` the payload packed as Any. The trace context (traceparent,
 * tracestate) and request id come from the operation producing the event: the
 * inbound call being served and its active span, when there are; an event
 * produced outside any call (a recovery loop) carries them empty unless an
 * OpenTelemetry context is active.
 */
export function createEnvelope<Desc extends DescMessage>(
  schema: Desc,
  data: MessageInitShape<Desc>,
  options: EnvelopeOptions,
): Envelope {
  const inbound = currentInboundCall();
  const carrier: Record<string, string> = {};
  propagator.inject(activeContext() ?? otelContext.active(), carrier, defaultTextMapSetter);
  return create(EnvelopeSchema, {
    id: options.id ?? randomUUID(),
    source: options.source,
    type: schema.typeName,
    subject: options.subject,
    time: timestampFromDate(options.time ?? new Date()),
    traceparent: carrier["traceparent"] ?? "",
    tracestate: carrier["tracestate"] ?? "",
    requestId: inbound?.requestId ?? "",
    data: anyPack(schema, create(schema, data)),
  });
}

/**
 * The envelope's payload as `schema`'s message, or undefined when the
 * envelope carries another type (or none).
 */
export function unpackEnvelope<Desc extends DescMessage>(envelope: Envelope, schema: Desc): MessageShape<Desc> | undefined {
  if (envelope.type !== schema.typeName || envelope.data === undefined) {
    return undefined;
  }
  return anyUnpack(envelope.data, schema);
}
