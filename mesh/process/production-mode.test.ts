import { expect } from "chai";
import { ProductionModeError, refuseDevFallbacks, runtimeDevFallbacks, testHook } from "./production-mode.js";

describe("production mode (MESH_ENV)", () => {
  const issuer = { variable: "AUTH_ISSUER", fallback: "unset: the development issuer" };

  it("development accepts every fallback", () => {
    expect(() => refuseDevFallbacks("development", [issuer, testHook("MESH_FAULTS")])).not.to.throw();
  });

  it("production accepts a process with none", () => {
    expect(() => refuseDevFallbacks("production", [])).not.to.throw();
  });

  it("production refuses, naming each fallback in one error", () => {
    const fallbacks = [issuer, testHook("SAGA_TEST_CRASH_AT"), ...runtimeDevFallbacks({ mtls: false, faults: false })];
    let caught: unknown;
    try {
      refuseDevFallbacks("production", fallbacks);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(ProductionModeError);
    const error = caught as ProductionModeError;
    expect(error.fallbacks).to.deep.equal(fallbacks);
    expect(error.message.split("\n")).to.deep.equal([
      "MESH_ENV=production refuses to start with these 3 development fallbacks (README: Production mode):",
      "  - AUTH_ISSUER: unset: the development issuer",
      "  - SAGA_TEST_CRASH_AT: a test hook is armed: failures are injected on purpose",
      "  - MESH_INSECURE=1: mTLS is off: every port answers anyone in cleartext and no caller is checked",
    ]);
  });

  it("says 'this development fallback' for one", () => {
    expect(() => refuseDevFallbacks("production", [issuer])).to.throw(/^MESH_ENV=production refuses to start with this development fallback/);
  });

  it("the runtime's own: mTLS off and fault injection armed, each only when so", () => {
    expect(runtimeDevFallbacks({ mtls: true, faults: false })).to.deep.equal([]);
    expect(runtimeDevFallbacks({ mtls: false, faults: true }).map((f) => f.variable)).to.deep.equal(["MESH_INSECURE=1", "MESH_FAULTS"]);
  });
});
