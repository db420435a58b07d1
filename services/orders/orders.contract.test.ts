import { replayContracts } from "../../test/contracts/support.js";
import { startOrdersProvider } from "../../test/contracts/provider-process.js";

/**
 * Orders as a provider: every consumer's contracts/<consumer>/orders.v*.json
 * against the real service, itself in front of real inventory and payments.
 */
describe("orders provider contracts", function () {
  this.timeout(60_000);
  replayContracts("orders", startOrdersProvider);
});
