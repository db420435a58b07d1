import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { adminScope, authorize } from "./authorize.js";
import type { Requirement } from "./access-policy.js";
import type { Principal } from "./principal.js";

const alice: Principal = { subject: "alice", scopes: new Set(["orders:read"]) };
const admin: Principal = { subject: "root", scopes: new Set(["orders:read", adminScope]) };

function refusal(requirement: Requirement, principal: Principal | undefined): ConnectError {
  try {
    authorize(requirement, principal);
  } catch (err) {
    expect(err).to.be.instanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error(`expected ${requirement} to refuse`);
}

describe("authorize", () => {
  it("lets anyone call a public method and forwards no identity", () => {
    expect(authorize("public", undefined)).to.equal(undefined);
    expect(authorize("public", alice)).to.equal(undefined);
  });

  it("needs a token for a customer method and returns its principal", () => {
    expect(authorize("customer", alice)).to.equal(alice);
    expect(refusal("customer", undefined).code).to.equal(Code.Unauthenticated);
  });

  it("needs the admin scope for an admin method", () => {
    expect(authorize("admin", admin)).to.equal(admin);
    expect(refusal("admin", undefined).code).to.equal(Code.Unauthenticated);
    const denied = refusal("admin", alice);
    expect(denied.code).to.equal(Code.PermissionDenied);
    expect(denied.rawMessage).to.contain(adminScope);
  });

  it("matches the admin scope exactly", () => {
    for (const scopes of [["meshwork:admin:read"], ["MESHWORK:ADMIN"], ["meshwork"], []]) {
      expect(refusal("admin", { subject: "eve", scopes: new Set(scopes) }).code).to.equal(Code.PermissionDenied);
    }
  });

  it("denies a method the policy does not list, whoever calls", () => {
    for (const principal of [undefined, alice, admin]) {
      expect(refusal("deny", principal).code).to.equal(Code.PermissionDenied);
    }
  });
});
