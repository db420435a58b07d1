import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "chai";
import { errorResponse } from "./error-response.js";
import { maskUpstreamError } from "./masked-codes.js";

describe("the edge's masked codes", () => {
  const inside = "SQLITE_CORRUPT at /var/lib/meshwork/orders.db; connect ECONNREFUSED 10.0.0.5:50051";
  const masked: [Code, string][] = [
    [Code.Internal, "internal error"],
    [Code.Unknown, "internal error"],
    [Code.DataLoss, "internal error"],
    [Code.Unavailable, "the service is temporarily unavailable; retry later"],
    [Code.DeadlineExceeded, "the request did not complete within its deadline"],
    [Code.ResourceExhausted, "the service is busy; retry later"],
  ];
  for (const [code, message] of masked) {
    it(`hides an upstream's ${Code[code]} message, keeping the code and the original as the cause`, () => {
      const original = new ConnectError(inside, code);
      const forwarded = maskUpstreamError(original);
      expect(forwarded.code).to.equal(code);
      expect(forwarded.rawMessage).to.equal(message);
      expect(forwarded.cause).to.equal(original);
      // REST renders it with the same words (passthrough sends forwarded as is).
      expect(errorResponse(forwarded).message).to.equal(message);
      expect(errorResponse(forwarded).body).not.to.contain("10.0.0.5");
    });
  }

  for (const code of [Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition, Code.PermissionDenied, Code.Unauthenticated, Code.AlreadyExists]) {
    it(`passes an upstream's ${Code[code]} as it is: an answer about the request`, () => {
      const original = new ConnectError("lines[0].quantity: must be at least 1", code);
      expect(maskUpstreamError(original)).to.equal(original);
      expect(errorResponse(original).message).to.equal("lines[0].quantity: must be at least 1");
    });
  }

  it("keeps the message of the gateway's own ResourceExhausted (its rate limit), which is about the client", () => {
    expect(errorResponse(new ConnectError("rate limit exceeded", Code.ResourceExhausted)).message).to.equal("rate limit exceeded");
  });
});
