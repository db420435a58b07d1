import { pino, type Logger } from "pino";

export type { Logger };

/**
 * A JSON logger for one process. Secrets never reach a log line: the
 * redaction paths cover credentials in headers and card tokens in requests.
 */
export function createLogger(name: string, level = "info"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ["authorization", "*.authorization", "headers.authorization", "cardToken", "*.cardToken", "card_token", "*.card_token"],
      censor: "[redacted]",
    },
  });
}
