import { randomUUID } from "node:crypto";

/** What a client may send as x-request-id: short and log-safe. */
const acceptable = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id of a call: the client's x-request-id when it is short and
 * log-safe, else a new UUID. It is forwarded upstream, echoed in the
 * response, and logged by every service the request touches.
 */
export function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && acceptable.test(value) ? value : randomUUID();
}
