import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { ContractError, loadContract, parseContract } from "../../mesh/contracts/index.js";
import { contractsDir, keepContract, meshworkServices } from "./support.js";

describe("contract files", () => {
  const files = readdirSync(contractsDir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".json"))
    .map((name) => path.join(contractsDir, name));

  for (const file of files) {
    it(`${path.relative(contractsDir, file)} is a valid contract naming real methods`, () => {
      const contract = loadContract(file);
      expect(path.basename(file)).to.match(new RegExp(`^${contract.provider}\\.v\\d+\\.json$`));
      expect(path.basename(path.dirname(file))).to.equal(contract.consumer);
      for (const interaction of contract.interactions) {
        for (const call of [...(interaction.setup ?? []), interaction]) {
          expect(() => meshworkServices.method(contract.service, call.method)).to.not.throw();
        }
      }
    });
  }

  it("recording (RECORD_CONTRACTS=1) is refused when CI=true, and nothing is written", () => {
    const file = path.join(contractsDir, "orders", "inventory.v1.json");
    const before = readFileSync(file, "utf8");
    const contract = { ...loadContract(file), interactions: [] };
    expect(() => keepContract(contract, 1, { RECORD_CONTRACTS: "1", CI: "true" })).to.throw("refused when CI=true");
    expect(readFileSync(file, "utf8")).to.equal(before);
  });

  it("a malformed contract is refused naming the file and the place", () => {
    const base = { consumer: "orders", provider: "inventory", service: "meshwork.inventory.v1.InventoryService" };
    const call = { method: "GetItem", request: { sku: "MUG-001" } };
    const cases: Array<[unknown, string]> = [
      [{ ...base, consumer: "" }, "x.json: consumer: must be a non-empty string"],
      [{ ...base, interactions: [{ ...call, name: "a", expect: { ok: "yes" } }] }, 'x.json: interaction "a".expect.ok: must be true or false'],
      [
        { ...base, interactions: [{ ...call, name: "a", expect: { ok: false, code: "FailedPrecondition" } }] },
        'x.json: interaction "a".expect.code: "FailedPrecondition" is not a snake_case Connect code',
      ],
      [
        { ...base, interactions: [{ ...call, name: "a", expect: { ok: true, fields: { item: { sku: "x" } } } }] },
        'x.json: interaction "a".expect.fields["item"]: an object must be a matcher: {"type"}, {"present"} or {"equals"}',
      ],
      [
        { ...base, interactions: [{ ...call, name: "a", expect: { ok: true, fields: {} } }, { ...call, name: "a", expect: { ok: true, fields: {} } }] },
        'x.json: interactions[1].name: "a" appears twice',
      ],
    ];
    for (const [json, message] of cases) {
      expect(() => parseContract(json, "x.json")).to.throw(ContractError, message);
    }
  });
});
