import { pino, type DestinationStream, type Logger } from "pino";
import { currentInboundCall, type InboundCall } from "./context/inbound-call.js";
import { batchedStdout } from "./log-destination.js";

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
 * AuthorizePayment requests, an order, a saga's stored step). A value under
 * one of these keys is censored wherever the key stands, at the top of a log
 * object or under up to three levels of objects or arrays (`a.b.c.key`).
 * Log objects are redacted by key, so a secret inside a free-text message is
 * not caught: errors and messages must not quote them.
 */
const secretKeys: ReadonlySet<string> = new Set([
  "authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "token",
  "accessToken",
  "refreshToken",
  "cardToken",
  "card_token",
]);
const censor = "[redacted]";
/** Levels of objects a secret key may sit under (3: `a.b.c.key`). */
const redactDepth = 3;

/**
 * `value` with every secret key (see `secretKeys`) censored, down to
 * `redactDepth` levels: the same object when it holds none (the common case
 * costs a walk over its keys and allocates nothing), else a copy of each
 * object on the way to a secret. Copies are plain objects (arrays stay
 * arrays), as JSON shows them anyway.
 *
 * Written here rather than with pino's `redact` option: with wildcard paths
 * (`*.*.*.cardToken`, the only way to say "anywhere") pino runs its redactor
 * on every value of every line, which made logging the largest cost of a call
 * in the default configuration (bench/RESULTS.md, the "before" breakdown),
 * while exact paths would miss the nested places listed above.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (typeof value !== "object" || value === null) {
    return value;
  }
  let copy: Record<string, unknown> | unknown[] | undefined;
  const source = value as Record<string, unknown>;
  for (const key in source) {
    const field = source[key];
    let next = field;
    if (secretKeys.has(key)) {
      next = field === undefined ? field : censor;
    } else if (depth < redactDepth && typeof field === "object" && field !== null) {
      next = redactSecrets(field, depth + 1);
    }
    if (next !== field) {
      copy ??= Array.isArray(value) ? [...value] : { ...source };
      (copy as Record<string, unknown>)[key] = next;
    }
  }
  return (copy ?? value) as T;
}

/** pino's standard error serializer, its output redacted as one level down. */
const errSerializer = (err: Error): unknown => redactSecrets(pino.stdSerializers.err(err), 1);

/**
 * A JSON logger for one process. Secrets never reach a log line (see
 * `secretKeys`). Every line written while a handler serves a call under
 * `inboundCallScope` carries that call's request id and trace and span ids
 * (the mixin reads the current inbound call), including lines of the domain,
 * which knows nothing of requests; lines outside a call carry none. Lines
 * go to stdout in batches (see `batchedStdout`) unless a destination is
 * given (tests).
 */
export function createLogger(name: string, level = "info", destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    // An Error under `err` is redacted after pino's serializer has made it a plain object.
    serializers: { err: errSerializer },
    formatters: {
      log: (object: Record<string, unknown>) => {
        const err = object.err;
        return err instanceof Error ? { ...redactSecrets({ ...object, err: undefined }), err } : redactSecrets(object);
      },
    },
    // pino formats a child logger's bindings without `formatters`: its own
    // redaction, with exact top-level paths only (cheap: no wildcard), covers
    // a secret key passed to child().
    redact: { paths: [...secretKeys].map((key) => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`)), censor },
    mixin() {
      const call = currentInboundCall();
      return call === undefined ? {} : callLogFields(call);
    },
  };
  return pino(options, destination ?? batchedStdout());
}
