import { expect } from "chai";
import { createLogger } from "./logger.js";

/** A logger writing into an array, one parsed object per line. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger("logger-test", "info", { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines, text: () => JSON.stringify(lines) };
}

describe("createLogger", () => {
  it("redacts credentials and card tokens where requests, headers, orders and errors carry them", () => {
    const { logger, text, lines } = capture();
    logger.info({ headers: { authorization: "Bearer h.e.y", cookie: "session=c00kie", "x-api-key": "k3y" } }, "headers");
    logger.info({ req: { headers: { authorization: "Bearer nested.jwt.sig" } } }, "nested headers");
    logger.info({ request: { cardToken: "tok_visa", lines: [] } }, "place order");
    logger.info({ order: { payment: { card_token: "tok_declined" } } }, "deep");
    logger.info({ cardToken: "tok_slow_10", token: "t0ken", accessToken: "acc3ss" }, "top level");
    for (const secret of ["h.e.y", "c00kie", "k3y", "nested.jwt.sig", "tok_visa", "tok_declined", "tok_slow_10", "t0ken", "acc3ss"]) {
      expect(text(), secret).to.not.include(secret);
    }
    expect(lines[2]).to.deep.include({ request: { cardToken: "[redacted]", lines: [] } });
    expect(lines[1]).to.deep.include({ req: { headers: { authorization: "[redacted]" } } });
  });

  it("adds no request fields outside an inbound call", () => {
    const { logger, lines } = capture();
    logger.info("outside");
    expect(lines[0]).to.not.have.any.keys("request_id", "trace_id", "span_id");
  });
});
