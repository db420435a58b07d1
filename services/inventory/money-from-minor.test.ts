import { expect } from "chai";
import { moneyFromMinor } from "./money-from-minor.js";

describe("moneyFromMinor", () => {
  it("splits cents into dollars and nanos", () => {
    expect(moneyFromMinor(1400, "USD")).to.deep.equal({ units: 14n, nanos: 0 });
    expect(moneyFromMinor(1999, "USD")).to.deep.equal({ units: 19n, nanos: 990_000_000 });
    expect(moneyFromMinor(5, "EUR")).to.deep.equal({ units: 0n, nanos: 50_000_000 });
    expect(moneyFromMinor(0, "USD")).to.deep.equal({ units: 0n, nanos: 0 });
  });

  it("gives units and nanos the amount's sign", () => {
    expect(moneyFromMinor(-1999, "USD")).to.deep.equal({ units: -19n, nanos: -990_000_000 });
    expect(moneyFromMinor(-5, "USD")).to.deep.equal({ units: 0n, nanos: -50_000_000 });
  });

  it("follows the ISO 4217 minor unit of currencies without cents", () => {
    expect(moneyFromMinor(1400, "JPY")).to.deep.equal({ units: 1400n, nanos: 0 });
    expect(moneyFromMinor(1234, "KWD")).to.deep.equal({ units: 1n, nanos: 234_000_000 });
    expect(moneyFromMinor(12345, "CLF")).to.deep.equal({ units: 1n, nanos: 234_500_000 });
  });

  it("is exact beyond 2^53 nanos", () => {
    const minor = Number.MAX_SAFE_INTEGER;
    expect(moneyFromMinor(minor, "USD")).to.deep.equal({ units: 90_071_992_547_409n, nanos: 910_000_000 });
  });

  it("refuses an amount that is not a safe integer", () => {
    expect(() => moneyFromMinor(1.5, "USD")).to.throw(RangeError);
    expect(() => moneyFromMinor(2 ** 53, "USD")).to.throw(RangeError);
  });
});
