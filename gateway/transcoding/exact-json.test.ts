import { expect } from "chai";
import { parseJsonExactly } from "./exact-json.js";

describe("parseJsonExactly", () => {
  it("keeps integers beyond 2^53 exact as strings, and leaves everything else as JSON.parse would", () => {
    expect(parseJsonExactly('{"a":9007199254740993,"b":-9223372036854775808,"c":12,"d":1.5e300,"e":"9007199254740993 in text"}')).to.deep.equal({
      a: "9007199254740993",
      b: "-9223372036854775808",
      c: 12,
      d: 1.5e300,
      e: "9007199254740993 in text",
    });
  });

  it("does not touch digits inside strings with escaped quotes", () => {
    expect(parseJsonExactly('["x\\"99999999999999999999", 3]')).to.deep.equal(['x"99999999999999999999', 3]);
  });

  it("still rejects malformed JSON", () => {
    expect(() => parseJsonExactly('{"a": 123456789012345678901')).to.throw(SyntaxError);
  });
});
