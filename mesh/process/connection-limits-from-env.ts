import { envInt, type Env } from "../env.js";
import { capForFileLimit, connectionLimits, defaultConnectionLimits, type ConnectionLimits } from "../server/connection-limits.js";

/** The variable of each connection limit; the README's table lists them with their defaults. */
export const connectionLimitVariables: Readonly<Record<keyof ConnectionLimits, string>> = {
  firstByteTimeoutMs: "CONN_FIRST_BYTE_TIMEOUT_MS",
  headersTimeoutMs: "HTTP_HEADERS_TIMEOUT_MS",
  requestTimeoutMs: "HTTP_REQUEST_TIMEOUT_MS",
  keepAliveTimeoutMs: "HTTP_KEEPALIVE_TIMEOUT_MS",
  http2IdleTimeoutMs: "HTTP2_IDLE_TIMEOUT_MS",
  maxConcurrentStreams: "HTTP2_MAX_CONCURRENT_STREAMS",
  maxConnections: "MAX_CONNECTIONS",
  maxHeaderBytes: "MAX_HEADER_BYTES",
};

/**
 * A process's connection limits from its environment (each unset variable
 * keeps its default), with the connection cap lowered to fit under the
 * process's open-file limit. `capped` says when that happened, so the main
 * can say so at start.
 */
export function connectionLimitsFromEnv(
  env: Env,
  openFiles: number | undefined,
): { readonly limits: ConnectionLimits; readonly capped: boolean } {
  const read = (key: keyof ConnectionLimits): number =>
    envInt(env, connectionLimitVariables[key], defaultConnectionLimits[key], { min: 1 });
  const requested = namingVariables(() => connectionLimits({
    firstByteTimeoutMs: read("firstByteTimeoutMs"),
    headersTimeoutMs: read("headersTimeoutMs"),
    requestTimeoutMs: read("requestTimeoutMs"),
    keepAliveTimeoutMs: read("keepAliveTimeoutMs"),
    http2IdleTimeoutMs: read("http2IdleTimeoutMs"),
    maxConcurrentStreams: read("maxConcurrentStreams"),
    maxConnections: read("maxConnections"),
    maxHeaderBytes: read("maxHeaderBytes"),
  }));
  const maxConnections = capForFileLimit(requested.maxConnections, openFiles);
  return { limits: { ...requested, maxConnections }, capped: maxConnections < requested.maxConnections };
}

/** Runs `make`, rewording a RangeError about a limit's field to name its variable instead. */
function namingVariables<T>(make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (!(err instanceof RangeError)) {
      throw err;
    }
    let message = err.message;
    for (const [key, variable] of Object.entries(connectionLimitVariables)) {
      message = message.replaceAll(`connection limit ${key}`, variable).replaceAll(key, variable);
    }
    throw new RangeError(message);
  }
}
