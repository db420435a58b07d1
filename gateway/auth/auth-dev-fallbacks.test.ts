import { expect } from "chai";
import { authDevFallbacks, type AuthSettings } from "./auth-dev-fallbacks.js";
import { devAudience, devIssuer } from "./dev-identity.js";

const configured: AuthSettings = {
  jwksUrl: "https://198.18.0.10/.well-known/jwks.json",
  jwksFile: "",
  issuer: "https://198.18.0.10/",
  audience: "meshwork-shop",
};
const variables = (settings: Partial<AuthSettings>): string[] => authDevFallbacks({ ...configured, ...settings }).map((f) => f.variable);

describe("the gateway's auth development fallbacks", () => {
  it("finds none when a JWKS, an issuer and an audience are configured", () => {
    expect(variables({})).to.deep.equal([]);
    expect(variables({ jwksUrl: "", jwksFile: "/etc/meshwork/auth/jwks.json" })).to.deep.equal([]);
  });

  it("finds each one when nothing is configured", () => {
    const fallbacks = authDevFallbacks({ jwksUrl: "", jwksFile: "", issuer: "", audience: "" });
    expect(fallbacks.map((f) => f.variable)).to.deep.equal(["AUTH_JWKS_URL/AUTH_JWKS_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE"]);
    expect(fallbacks[0]!.fallback).to.contain("generate its own signing key");
    expect(fallbacks[1]!.fallback).to.equal(`unset: the development issuer ${devIssuer}`);
  });

  it("finds the development issuer and audience when set to them explicitly", () => {
    const fallbacks = authDevFallbacks({ ...configured, issuer: devIssuer, audience: devAudience });
    expect(fallbacks.map((f) => `${f.variable} ${f.fallback}`)).to.deep.equal([
      `AUTH_ISSUER set: the development issuer ${devIssuer}`,
      `AUTH_AUDIENCE set: the development audience ${devAudience}`,
    ]);
  });

  it("finds a cleartext JWKS URL on another host, not on this one", () => {
    expect(variables({ jwksUrl: "http://198.18.0.10/jwks.json" })).to.deep.equal(["AUTH_JWKS_URL"]);
    for (const loopback of ["http://127.0.0.1:9000/jwks.json", "http://127.3.2.1/jwks.json", "http://localhost:8081/jwks.json", "http://[::1]:9000/jwks.json"]) {
      expect(variables({ jwksUrl: loopback }), loopback).to.deep.equal([]);
    }
  });
});
