import { expect } from "chai";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { file_meshwork_inventory_v1_inventory } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { file_meshwork_orders_v1_orders } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { file_meshwork_payments_v1_payments } from "../../gen/meshwork/payments/v1/payments_pb.js";
import {
  ContractReplayer,
  contractJson,
  createServiceRegistry,
  findContracts,
  writeContract,
  type Contract,
} from "../../mesh/contracts/index.js";
import { testTls } from "../support/test-identity.js";

/** Where every consumer's contracts live: contracts/<consumer>/<provider>.v<n>.json. */
export const contractsDir = path.resolve(import.meta.dirname, "../../contracts");

/** The generated services contracts may name. */
export const meshworkServices = createServiceRegistry([
  file_meshwork_inventory_v1_inventory,
  file_meshwork_payments_v1_payments,
  file_meshwork_orders_v1_orders,
]);


/**
 * A consumer test's last step: with RECORD_CONTRACTS=1 (`RECORD_CONTRACTS=1
 * npx mocha ... <consumer test>`), write the freshly
 * recorded contract; otherwise require the committed file to say exactly the
 * same, so a consumer change that relies on something new cannot pass with a
 * stale contract.
 */
export function keepContract(contract: Contract, version = 1, env: NodeJS.ProcessEnv = process.env): void {
  const file = path.join(contractsDir, contract.consumer, `${contract.provider}.v${version}.json`);
  const relative = path.relative(process.cwd(), file);
  if (env.RECORD_CONTRACTS === "1") {
    // CI checks contracts, it never records them: a CI run with
    // RECORD_CONTRACTS=1 would rewrite the files and pass whatever they say.
    if (env.CI === "true") {
      throw new Error("RECORD_CONTRACTS=1 rewrites contracts/ and is refused when CI=true: CI checks the committed contracts");
    }
    mkdirSync(path.dirname(file), { recursive: true });
    writeContract(file, contract);
    return;
  }
  expect(existsSync(file), `${relative} is missing; record it with RECORD_CONTRACTS=1`).to.equal(true);
  expect(contractJson(contract), `${relative} is out of date; re-record it with RECORD_CONTRACTS=1`).to.equal(
    readFileSync(file, "utf8"),
  );
}

/** A provider under test: its URL, and how to stop it and remove its data. */
export interface RunningProvider {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * The provider side: for every consumer's contract with `provider`, a fresh
 * provider (`start`: real process, new data directory) and one test per
 * interaction, titled with the consumer and the interaction, run in contract
 * order against that provider.
 */
export function replayContracts(provider: string, start: () => Promise<RunningProvider>): void {
  const contracts = findContracts(contractsDir, provider);
  it(`has consumer contracts for ${provider}`, () => {
    expect(contracts, `no contracts/*/${provider}.v*.json`).to.not.be.empty;
  });
  for (const contract of contracts) {
    describe(`consumer "${contract.consumer}" of ${contract.service}`, () => {
      let running: RunningProvider;
      let replayer: ContractReplayer;
      before(async () => {
        running = await start();
        // Replayed as the consumer itself: the provider's contract must let it call.
        replayer = new ContractReplayer({
          baseUrl: running.url,
          registry: meshworkServices,
          sessionOptions: (await testTls(contract.consumer)).nodeOptions,
        });
      });
      after(async () => {
        replayer?.close();
        await running?.stop();
      });
      for (const interaction of contract.interactions) {
        it(`consumer "${contract.consumer}" interaction "${interaction.name}"`, async () => {
          const failure = await replayer.verify(contract, interaction);
          if (failure !== undefined) {
            throw new Error(failure.message);
          }
        });
      }
    });
  }
}
