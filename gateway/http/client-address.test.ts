import { expect } from "chai";
import { clientAddressResolver } from "./client-address.js";

describe("clientAddressResolver", () => {
  const behindProxy = clientAddressResolver(["198.18.0.0/24", "::1"]);

  it("is the socket peer when nothing is trusted, whatever X-Forwarded-For says", () => {
    const direct = clientAddressResolver([]);
    expect(direct("198.18.1.7", "198.19.0.1")).to.equal("198.18.1.7");
    expect(direct("::ffff:198.18.1.7", undefined)).to.equal("198.18.1.7");
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", () => {
    expect(behindProxy("198.18.1.7", "198.19.0.1")).to.equal("198.18.1.7");
  });

  it("takes the right-most untrusted entry behind a trusted proxy", () => {
    expect(behindProxy("198.18.0.5", "198.19.0.1")).to.equal("198.19.0.1");
    // The client wrote 198.19.9.9 itself; the proxy appended the address it saw.
    expect(behindProxy("::ffff:198.18.0.5", "198.19.9.9, 198.19.0.1")).to.equal("198.19.0.1");
    expect(behindProxy("198.18.0.5", ["198.19.9.9", "198.19.0.2, 198.18.0.9"])).to.equal("198.19.0.2");
    expect(behindProxy("::1", "2001:db8::7")).to.equal("2001:db8::7");
  });

  it("keeps a malformed entry, bounded, and falls back to the peer without one", () => {
    expect(behindProxy("198.18.0.5", `1.2.3.4, ${"x".repeat(500)}`)).to.equal("x".repeat(64));
    expect(behindProxy("198.18.0.5", undefined)).to.equal("198.18.0.5");
    expect(behindProxy("198.18.0.5", "198.18.0.6, 198.18.0.7")).to.equal("198.18.0.6");
  });

  it("refuses a trusted proxy entry that is not an address or a range, naming it", () => {
    expect(() => clientAddressResolver(["10.0.0.0/8", "proxy.internal"])).to.throw(/"proxy.internal"/);
    expect(() => clientAddressResolver(["10.0.0.0/33"])).to.throw(/10.0.0.0\/33/);
  });
});
