// `make load`: an open-loop load generator for a running mesh (`make run`).
//   tsx scripts/load.ts [--target rest|grpc] [--url <base url>] [--stages 5s@10..50,20s@50]
//                       [--customers 20] [--out <dir>] [--data-dir <dir>] [--tls-dir <dir>] [--no-restock] [--quiet]
// rest: the gateway's REST routes under a shop's mix, each request a virtual
// customer's with its own token (signed with the local dev key, as
// `make token`); grpc: InventoryService straight over gRPC, over mTLS as an
// operator (--tls-dir, or an identity issued from make run's CA in the data
// directory), or cleartext when MESH_INSECURE=1 (a mesh started so). Prints a table at
// the end and writes report.html and results.json under --out (default
// test-output/load-<time>). Exits 2 on bad arguments.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { SingleBar } from "cli-progress";
import { devAuthDirName } from "../gateway/auth/index.js";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { WorkloadCredentials } from "../mesh/identity/workload-credentials.js";
import { ClientFactory, defaultTrustDomain, envString } from "../mesh/index.js";
import { grpcTarget } from "./load/grpc-target.js";
import { htmlReport } from "./load/html-report.js";
import { loadOperatorCredentials } from "./load/operator-credentials.js";
import { offeredRequests, parseStages, type LoadStage } from "./load/load-schedule.js";
import { summarize, summaryTable } from "./load/load-summary.js";
import { runOpenLoop } from "./load/open-loop.js";
import { restMix, type VirtualCustomer } from "./load/rest-mix.js";
import { restock } from "./load/restock.js";
import { virtualCustomers } from "./load/virtual-customers.js";

const usage =
  "usage: tsx scripts/load.ts [--target rest|grpc] [--url <base url>] [--stages 5s@10..50,20s@50] " +
  "[--customers 20] [--out <dir>] [--data-dir <dir>] [--tls-dir <dir>] [--no-restock] [--quiet]";
const root = path.resolve(import.meta.dirname, "..");

let values;
try {
  ({ values } = parseArgs({
    options: {
      target: { type: "string", default: "rest" },
      url: { type: "string" },
      stages: { type: "string", default: "5s@10..50,20s@50" },
      customers: { type: "string", default: "20" },
      out: { type: "string" },
      "data-dir": { type: "string" },
      "tls-dir": { type: "string" },
      "no-restock": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
    },
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`);
}
const target = values.target;
if (target !== "rest" && target !== "grpc") {
  fail(`--target must be rest or grpc, got ${target}\n${usage}`);
}
let stages: LoadStage[];
try {
  stages = parseStages(values.stages);
} catch (err) {
  fail(`--stages: ${(err as Error).message}`);
}
const customersCount = Number(values.customers);
if (!Number.isInteger(customersCount) || customersCount < 1) {
  fail(`--customers must be a positive whole number, got ${values.customers}`);
}
// The services speak mTLS unless the mesh was started with MESH_INSECURE=1.
const insecure = envString(process.env, "MESH_INSECURE", "") === "1";
const url = (
  values.url ??
  (target === "rest"
    ? `http://127.0.0.1:${envString(process.env, "GATEWAY_PORT", "8080")}`
    : `${insecure ? "http" : "https"}://127.0.0.1:${envString(process.env, "INVENTORY_PORT", "50051")}`)
).replace(/\/$/, "");
const dataDir = path.resolve(root, values["data-dir"] ?? envString(process.env, "MESH_DATA_DIR", ".data"));
let tls: WorkloadCredentials | undefined;
if (target === "grpc" && url.startsWith("https:")) {
  try {
    tls = new WorkloadCredentials(
      await loadOperatorCredentials({ dataDir, trustDomain: envString(process.env, "MESH_TRUST_DOMAIN", defaultTrustDomain), tlsDir: values["tls-dir"] }),
    );
  } catch (err) {
    fail((err as Error).message);
  }
}
const out = path.resolve(root, values.out ?? path.join("test-output", `load-${new Date().toISOString().replace(/[:.]/g, "-")}`));
const runId = Date.now().toString(36);

const skus = await catalogueSkus();
let load: { send: (i: number) => Promise<string>; close(): Promise<void> };
if (target === "rest") {
  const tokenDir = path.join(dataDir, devAuthDirName);
  const customers: VirtualCustomer[] = await virtualCustomers(tokenDir, customersCount);
  if (!values["no-restock"]) {
    await restock({ gatewayUrl: url, tokenDir, skus, stages, runId }).catch((err: unknown) => fail(`${(err as Error).message} (--no-restock skips it)`));
  }
  load = restMix({ gatewayUrl: url, customers, skus, runId });
} else {
  load = grpcTarget({ url, skus, ...(tls === undefined ? {} : { tls }) });
}

const offered = Math.round(offeredRequests(stages));
const bar = values.quiet
  ? undefined
  : new SingleBar({
      format: "load |{bar}| {percentage}% | {value}/{total} due | {completed} answered | {elapsed}s",
      hideCursor: true,
      noTTYOutput: false,
    });
bar?.start(offered, 0, { completed: 0 });
const result = await runOpenLoop({
  stages,
  send: load.send,
  onProgress: (due, completed) => bar?.update(Math.min(due, offered), { completed }),
});
bar?.stop();
await load.close();
tls?.close();

const summary = summarize(`${target} ${url}`, values.stages, result);
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, "results.json"), `${JSON.stringify(summary, (_, v: unknown) => (v === Infinity ? null : v), 2)}\n`);
writeFileSync(path.join(out, "report.html"), htmlReport(summary, new Date()));
console.log(summaryTable(summary));
console.log(`report: ${path.join(out, "report.html")}`);
console.log(`results: ${path.join(out, "results.json")}`);

/** The SKUs to use: the catalogue as the gateway (or inventory) lists it. */
async function catalogueSkus(): Promise<string[]> {
  if (target === "grpc") {
    const clients = new ClientFactory(tls === undefined ? {} : { tls });
    try {
      const listed = await clients.client(InventoryService, url).listItems({ pageSize: 100 }, { timeoutMs: 10_000 });
      return listed.items.map((i) => i.sku);
    } catch (err) {
      fail(`cannot list the catalogue at ${url}: ${(err as Error).message}`);
    } finally {
      clients.close();
    }
  }
  const res = await fetch(`${url}/v1/inventory/items?page_size=100`).catch((err: unknown) => fail(`cannot reach the gateway at ${url}: ${(err as Error).message}`));
  if (!res.ok) {
    fail(`GET ${url}/v1/inventory/items answered ${res.status}`);
  }
  const items = ((await res.json()) as { items?: { sku: string }[] }).items ?? [];
  if (items.length === 0) {
    fail(`the catalogue at ${url} is empty`);
  }
  return items.map((i) => i.sku);
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
