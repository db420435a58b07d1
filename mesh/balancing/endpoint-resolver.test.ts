import { expect } from "chai";
import { dnsEndpoints, staticEndpoints } from "./endpoint-resolver.js";

describe("endpoint resolvers", () => {
  it("staticEndpoints returns its list and never asks to refresh", async () => {
    const resolver = staticEndpoints(["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    expect(await resolver.resolve()).to.deep.equal(["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    expect(resolver.refreshMs).to.equal(undefined);
    expect(() => staticEndpoints([])).to.throw();
  });

  it("dnsEndpoints resolves localhost through the system resolver", async () => {
    const resolver = dnsEndpoints({ host: "localhost", port: 50051, family: 4 });
    expect(await resolver.resolve()).to.include("http://127.0.0.1:50051");
    expect(resolver.refreshMs).to.equal(30_000);
  });

  it("dnsEndpoints brackets IPv6, sorts and deduplicates", async () => {
    const resolver = dnsEndpoints({
      host: "inventory",
      port: 7,
      refreshMs: 5,
      lookup: async () => [
        { address: "10.0.0.2", family: 4 },
        { address: "::1", family: 6 },
        { address: "10.0.0.1", family: 4 },
        { address: "10.0.0.2", family: 4 },
      ],
    });
    expect(await resolver.resolve()).to.deep.equal(["http://10.0.0.1:7", "http://10.0.0.2:7", "http://[::1]:7"]);
    expect(resolver.refreshMs).to.equal(5);
  });

  it("dnsEndpoints rejects when the name does not resolve", async () => {
    const resolver = dnsEndpoints({
      host: "nowhere.invalid",
      port: 7,
      lookup: () => Promise.reject(Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" })),
    });
    await resolver.resolve().then(
      () => expect.fail("expected a rejection"),
      (e: unknown) => expect((e as NodeJS.ErrnoException).code).to.equal("ENOTFOUND"),
    );
  });
});
