import { replayContracts } from "../../test/contracts/support.js";
import { startLeafProvider } from "../../test/contracts/provider-process.js";

/** Inventory as a provider: every consumer's contracts/<consumer>/inventory.v*.json against the real service. */
describe("inventory provider contracts", function () {
  this.timeout(60_000);
  replayContracts("inventory", () => startLeafProvider("inventory"));
});
