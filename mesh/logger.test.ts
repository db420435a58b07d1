import { expect } from "chai";
import { createLogger, redactSecrets } from "./logger.js";

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

  it("redacts secrets in arrays, in an error's own fields, in child bindings, and three levels down", () => {
    const { logger, text, lines } = capture();
    logger.info({ orders: [{ cardToken: "tok_in_array" }] }, "array");
    const err = Object.assign(new Error("declined"), { request: { headers: { authorization: "Bearer err.field.sig" } } });
    logger.error({ err, saga: { step: { input: { card_token: "tok_three_deep" } } } }, "failed");
    logger.child({ token: "child-t0ken" }).info("child");
    for (const secret of ["tok_in_array", "err.field.sig", "tok_three_deep", "child-t0ken"]) {
      expect(text(), secret).to.not.include(secret);
    }
    expect(lines[0]).to.deep.include({ orders: [{ cardToken: "[redacted]" }] });
    // The error is still logged as an error: type, message and stack.
    expect(lines[1]!.err).to.include({ type: "Error", message: "declined" });
    expect((lines[1]!.err as { stack: string }).stack).to.include("logger.test.ts");
    expect(lines[2]).to.include({ token: "[redacted]" });
  });

  it("leaves an object without secrets as it is, and the caller's objects untouched", () => {
    const flat = { rpc: "a.B/C", code: "ok", duration_ms: 1.5, headers: { "content-type": "application/grpc" } };
    expect(redactSecrets(flat)).to.equal(flat);
    const nested = { request: { cardToken: "tok_visa" } };
    expect(redactSecrets(nested)).to.deep.equal({ request: { cardToken: "[redacted]" } });
    expect(nested.request.cardToken).to.equal("tok_visa");
  });

  it("adds no request fields outside an inbound call", () => {
    const { logger, lines } = capture();
    logger.info("outside");
    expect(lines[0]).to.not.have.any.keys("request_id", "trace_id", "span_id");
  });
});
