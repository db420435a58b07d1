import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { parse as parseYaml } from "yaml";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

/** Runs a command in the clone; resolves with its output, or rejects with it. */
async function inClone(dir: string, command: string, args: string[], timeout = 300_000): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: dir, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: "" } });
    return stdout + stderr;
  } catch (err) {
    const { stdout = "", stderr = "", code } = err as { stdout?: string; stderr?: string; code?: unknown };
    throw Object.assign(new Error(`${command} ${args.join(" ")} exited ${String(code)}:\n${stdout}\n${stderr}`), { stdout, stderr, code });
  }
}

/**
 * `make service NAME=shipping PUBLIC=1` in a temporary clone of this working
 * tree (its tracked and new files; node_modules hard-linked, not installed),
 * then the clone's own checks with no edit: proto-check, typecheck, the new
 * service's unit, contract and end-to-end tests (through the gateway, with
 * the policy applied, on /mesh with its owner), the catalogue's check and
 * the SLO rules (fresh, accepted by promtool).
 */
describe("make service: a new service that passes its checks in one command", function () {
  this.timeout(900_000);
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-scaffold-"));
    const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    for (const file of stdout.split("\0").filter((f) => f !== "" && existsSync(path.join(root, f)))) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      copyFileSync(path.join(root, file), path.join(dir, file));
    }
    // Dependencies as installed here, hard-linked (no npm ci); the stamps make
    // writes are the clone's own, newer than its package files, so make installs nothing.
    await run("cp", ["-al", path.join(root, "node_modules"), path.join(dir, "node_modules")]);
    await run("cp", ["-a", path.join(root, "proto-deps"), path.join(dir, "proto-deps")]);
    for (const stamp of ["node_modules/.installed", "proto-deps/.copied"]) {
      if (existsSync(path.join(dir, stamp))) unlinkSync(path.join(dir, stamp));
      writeFileSync(path.join(dir, stamp), "");
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("scaffolds shipping, public, with the next free port, routes and policy lines", async () => {
    const output = await inClone(dir, "make", ["-s", "service", "NAME=shipping", "PUBLIC=1"]);
    expect(output).to.contain("Scaffolded shipping (public: routed by the gateway) on port 50055");
    expect(readFileSync(path.join(dir, "services/shipping/service.yaml"), "utf8")).to.contain("port: 50055");
    const policy = JSON.parse(readFileSync(path.join(dir, "gateway/auth/access-policy.json"), "utf8")) as { methods: Record<string, string> };
    expect(policy.methods).to.include({
      "meshwork.shipping.v1.ShippingService/CreateEntry": "customer",
      "meshwork.shipping.v1.ShippingService/GetEntry": "public",
    });
    const config = readFileSync(path.join(dir, "gateway/gateway.yaml"), "utf8");
    expect(config).to.contain("name: shipping").and.contain("${SHIPPING_URL:-https://127.0.0.1:50055}").and.contain("meshwork.shipping.v1.ShippingService");
    // The config's comments survive the edit.
    expect(config).to.contain("# What the gateway fronts");
    expect(existsSync(path.join(dir, "gen/meshwork/shipping/v1/shipping_pb.ts"))).to.equal(true);
    expect(readFileSync(path.join(dir, "prometheus/slo-rules.yml"), "utf8")).to.contain("slo:shipping:create-entry-availability");
  });

  it("refuses the same name again, and a name that is not a lowercase word, writing nothing", async () => {
    const before = readFileSync(path.join(dir, "gateway/gateway.yaml"), "utf8");
    for (const [name, message] of [
      ["shipping", "shipping exists already"],
      ["Bad-Name", 'NAME="Bad-Name" must be 2 to 31 lowercase letters or digits'],
      ["gateway", "NAME=gateway is reserved"],
    ] as const) {
      const failure = (await inClone(dir, "make", ["-s", "service", `NAME=${name}`]).then(
        () => expect.fail(`make service NAME=${name} should fail`),
        (err: unknown) => err,
      )) as { stderr: string };
      expect(failure.stderr).to.contain(message);
    }
    expect(readFileSync(path.join(dir, "gateway/gateway.yaml"), "utf8")).to.equal(before);
  });

  it("passes the clone's proto-check (format, lint, breaking, gen/ fresh) with no edit", async () => {
    expect(await inClone(dir, "./scripts/proto-check.sh", [])).to.contain("gen is up to date");
  });

  it("passes the clone's typecheck with no edit", async () => {
    await inClone(dir, "node_modules/.bin/tsc", ["--noEmit", "-p", "tsconfig.json"]);
  });

  it("passes the new service's tests, and the suites that read the whole config, policy and README, in the clone", async () => {
    const output = await inClone(dir, "node_modules/.bin/mocha", [
      "--no-config",
      "--import=tsx",
      "--exit",
      "--timeout",
      "120000",
      "services/shipping/entries.test.ts",
      "services/shipping/store.test.ts",
      "services/shipping/handler.test.ts",
      "test/e2e/shipping.test.ts",
      // Suites that read the whole config, policy and README: still true with shipping in them.
      "gateway/config/gateway-config.test.ts",
      "gateway/auth/access-policy.test.ts",
      "test/docs/readme-env.test.ts",
    ]);
    expect(output).to.match(/\d+ passing/).and.not.match(/failing|pending/);
    expect(output).to.contain("appears on /mesh with its owner from the catalogue");
  });

  it("agrees with the clone's catalogue check, and has SLO rules promtool accepts", async () => {
    const catalogue = await inClone(dir, "make", ["-s", "catalogue"]);
    expect(catalogue).to.match(/shipping +shipping team +2/);
    expect(catalogue).to.match(/gateway .*inventory, orders, notifications, shipping/);
    if (!existsSync("/usr/bin/promtool")) throw new Error("/usr/bin/promtool is missing: apt-get install -y prometheus (make test installs it)");
    expect(await inClone(dir, "/usr/bin/promtool", ["check", "rules", "prometheus/slo-rules.yml"])).to.contain("SUCCESS");
    // Prometheus scrapes it, so its SLO rules have series: a job on its port, the others kept.
    // (promtool check config needs make run's token file for the gateway job, absent in the clone.)
    const prometheus = parseYaml(readFileSync(path.join(dir, "prometheus/prometheus.yml"), "utf8")) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    expect(prometheus.scrape_configs.map((j) => j.job_name)).to.deep.equal(["gateway", "inventory", "payments", "orders", "notifications", "shipping"]);
    expect(prometheus.scrape_configs.at(-1)!.static_configs).to.deep.equal([{ targets: ["127.0.0.1:50055"] }]);
  });
});
