import { pino, type DestinationStream, type Logger } from "pino";
import { currentInboundCall, type InboundCall } from "./context/inbound-call.js";

export type { Logger };

/** The fields that tie a log line to a request and its trace. */
export interface CallLogFields {
  request_id?: string;
  trace_id?: string;
  span_id?: string;
}

/** The correlation fields of an inbound call: only those it has. */
export function callLogFields(call: InboundCall): CallLogFields {
  const fields: CallLogFields = {};
  const requestId = call.requestId;
  if (requestId !== undefined) {
    fields.request_id = requestId;
  }
  if (call.traceId !== undefined) {
    fields.trace_id = call.traceId;
    fields.span_id = call.spanId;
  }
  return fields;
}

/**
 * Where secrets could sit in what the mesh and its services log: credentials
 * in headers (a Node headers object, or nested one level in a request or
 * error), bearer and API tokens, and card tokens (PlaceOrder and
 * AuthorizePayment requests, an order, a saga's stored step) at up to three
 * levels. Log objects are redacted by path, so a secret inside a free-text
 * message is not caught: errors and messages must not quote them.
 */
const secretKeys = ["authorization", "cookie", "set-cookie", "x-api-key", "token", "accessToken", "refreshToken", "cardToken", "card_token"];
const redactPaths = secretKeys.flatMap((key) => {
  const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const dot = k.startsWith("[") ? "" : ".";
  return [k, `*${dot}${k}`, `*.*${dot}${k}`, `*.*.*${dot}${k}`];
});

/**
 * A JSON logger for one process. Secrets never reach a log line (see
 * `redactPaths`). Every line written while a handler serves a call under
 * `inboundCallScope` carries that call's request id and trace and span ids
 * (the mixin reads the current inbound call), including lines of the domain,
 * which knows nothing of requests; lines outside a call carry none. Lines
 * go to stdout unless a destination is given (tests).
 */
export function createLogger(name: string, level = "info", destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: redactPaths, censor: "[redacted]" },
    mixin() {
      const call = currentInboundCall();
      return call === undefined ? {} : callLogFields(call);
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
