import { replayContracts } from "../../test/contracts/support.js";
import { startLeafProvider } from "../../test/contracts/provider-process.js";

/** Payments as a provider: every consumer's contracts/<consumer>/payments.v*.json against the real service. */
describe("payments provider contracts", function () {
  this.timeout(60_000);
  replayContracts("payments", () => startLeafProvider("payments"));
});
