import { Code } from "@connectrpc/connect";
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { faultConfigFromSetting, parseFaultConfig } from "./fault-config.js";
import { FaultInjector, type FaultedCall } from "./fault-injector.js";

const payments = "meshwork.payments.v1.PaymentService";
const authorize: FaultedCall = { direction: "inbound", service: payments, method: "AuthorizePayment", caller: "127.0.0.1" };

function injector(json: object): FaultInjector {
  return new FaultInjector({ config: parseFaultConfig(JSON.stringify(json), "test") });
}

/** How many of `n` plans for `call` have a delay and how many an abort. */
function draw(faults: FaultInjector, call: FaultedCall, n: number): { delays: number; aborts: number; codes: Set<Code | undefined> } {
  let delays = 0;
  let aborts = 0;
  const codes = new Set<Code | undefined>();
  for (let i = 0; i < n; i++) {
    const plan = faults.plan(call);
    if (plan?.delayMs !== undefined) {
      delays++;
    }
    if (plan?.abort !== undefined) {
      aborts++;
      codes.add(plan.abort);
    }
    plan?.release();
  }
  return { delays, aborts, codes };
}

/**
 * Bounds for a binomial count: mean ± 6 standard deviations, so that a
 * correct injector fails this about once in a billion runs while a wrong
 * percentage (e.g. 15% for 10%, or the delay's share applied to the abort) is
 * far outside.
 */
function within(count: number, n: number, p: number): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  expect(count, `${count} of ${n} at p=${p}`).to.be.within(mean - 6 * sd, mean + 6 * sd);
}

describe("fault injector", () => {
  it("injects nothing without rules, and says it is inactive", () => {
    const faults = new FaultInjector();
    expect(faults.active).to.equal(false);
    expect(faults.plan(authorize)).to.equal(undefined);
  });

  it("honours each percentage within statistical bounds over 2,000 calls", () => {
    const faults = injector({
      faults: [
        {
          service: payments,
          method: "AuthorizePayment",
          delay: { fixed_delay: "0.2s", percentage: { numerator: 50 } },
          abort: { grpc_status: 14, percentage: { numerator: 10, denominator: "HUNDRED" } },
        },
      ],
    });
    const { delays, aborts, codes } = draw(faults, authorize, 2000);
    within(delays, 2000, 0.5);
    within(aborts, 2000, 0.1);
    expect([...codes]).to.deep.equal([Code.Unavailable]);
  });

  it("reads TEN_THOUSAND and MILLION denominators, and caps a numerator above its denominator at every call", () => {
    const perTenThousand = injector({ faults: [{ abort: { grpc_status: 14, percentage: { numerator: 2500, denominator: "TEN_THOUSAND" } } }] });
    within(draw(perTenThousand, authorize, 2000).aborts, 2000, 0.25);
    const perMillion = injector({ faults: [{ abort: { grpc_status: 14, percentage: { numerator: 1, denominator: "MILLION" } } }] });
    expect(draw(perMillion, authorize, 2000).aborts).to.be.below(5);
    const all = injector({ faults: [{ abort: { grpc_status: 14, percentage: { numerator: 250 } } }] });
    expect(draw(all, authorize, 2000).aborts).to.equal(2000);
  });

  it("matches direction, service, method, upstream_cluster and downstream_nodes; the first matching rule decides", () => {
    const faults = injector({
      faults: [
        { service: payments, method: "CapturePayment", abort: { grpc_status: 13, percentage: { numerator: 100 } } },
        { service: payments, downstream_nodes: ["10.0.0.9"], abort: { grpc_status: 7, percentage: { numerator: 100 } } },
        { service: payments, abort: { grpc_status: 14, percentage: { numerator: 100 } } },
        {
          direction: "DIRECTION_OUTBOUND",
          upstream_cluster: "inventory",
          abort: { http_status: 503, percentage: { numerator: 100 } },
        },
      ],
    });
    expect(faults.plan({ ...authorize, method: "CapturePayment" })?.abort).to.equal(Code.Internal);
    expect(faults.plan({ ...authorize, caller: "10.0.0.9" })?.abort).to.equal(Code.PermissionDenied);
    expect(faults.plan(authorize)?.abort).to.equal(Code.Unavailable);
    expect(faults.plan({ ...authorize, service: "meshwork.orders.v1.OrderService" })).to.equal(undefined);
    const outbound: FaultedCall = { direction: "outbound", service: "meshwork.inventory.v1.InventoryService", method: "GetItem" };
    expect(faults.plan({ ...outbound, target: "inventory" })?.abort).to.equal(Code.Unavailable);
    expect(faults.plan({ ...outbound, target: "payments" })).to.equal(undefined);
  });

  it("leaves health, reflection and FaultService alone unless a rule names health; FaultService always", () => {
    const any = injector({ faults: [{ abort: { grpc_status: 14, percentage: { numerator: 100 } } }] });
    for (const service of ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "meshwork.faults.v1.FaultService"]) {
      expect(any.plan({ ...authorize, service, method: "Check" }), service).to.equal(undefined);
    }
    const named = injector({
      faults: [
        { service: "grpc.health.v1.Health", abort: { grpc_status: 14, percentage: { numerator: 100 } } },
        { service: "meshwork.faults.v1.FaultService", abort: { grpc_status: 14, percentage: { numerator: 100 } } },
      ],
    });
    expect(named.plan({ ...authorize, service: "grpc.health.v1.Health", method: "Check" })?.abort).to.equal(Code.Unavailable);
    expect(named.plan({ ...authorize, service: "meshwork.faults.v1.FaultService", method: "SetFaults" })).to.equal(undefined);
  });

  it("takes header-controlled faults only from allowed callers, with the header's percentage capped by the rule's", () => {
    const faults = injector({
      faults: [
        {
          service: payments,
          downstream_nodes: ["127.0.0.1"],
          delay: { header_delay: {}, percentage: { numerator: 100 } },
          abort: { header_abort: {}, percentage: { numerator: 20 } },
        },
      ],
    });
    const headers = (h: Record<string, string>): FaultedCall => ({ ...authorize, header: (name) => h[name] });
    expect(faults.plan(authorize)).to.equal(undefined);
    expect(faults.plan(headers({ "x-envoy-fault-delay-request": "150" }))?.delayMs).to.equal(150);
    expect(faults.plan({ ...headers({ "x-envoy-fault-delay-request": "150" }), caller: "10.1.1.1" })).to.equal(undefined);
    // Asking for 100% gets the rule's 20%; asking for 5% gets 5%.
    within(draw(faults, headers({ "x-envoy-fault-abort-grpc-request": "14", "x-envoy-fault-abort-request-percentage": "100" }), 2000).aborts, 2000, 0.2);
    within(draw(faults, headers({ "x-envoy-fault-abort-grpc-request": "14", "x-envoy-fault-abort-request-percentage": "5" }), 2000).aborts, 2000, 0.05);
    // An HTTP status header wins over a gRPC one, as in Envoy; malformed values inject nothing.
    const both = draw(faults, headers({ "x-envoy-fault-abort-request": "404", "x-envoy-fault-abort-grpc-request": "14" }), 400);
    expect([...both.codes]).to.deep.equal([Code.Unimplemented]);
    expect(draw(faults, headers({ "x-envoy-fault-abort-grpc-request": "fourteen" }), 200).aborts).to.equal(0);
    expect(draw(faults, headers({ "x-envoy-fault-abort-grpc-request": "99" }), 200).aborts).to.equal(0);
  });

  it("ignores x-envoy-fault-* headers when no rule enables them", () => {
    const faults = injector({ faults: [{ service: payments, method: "GetPayment", abort: { grpc_status: 14, percentage: { numerator: 100 } } }] });
    const call: FaultedCall = { ...authorize, header: (name) => ({ "x-envoy-fault-abort-grpc-request": "14", "x-envoy-fault-delay-request": "100" })[name] };
    expect(faults.plan(call)).to.equal(undefined);
  });

  it("bounds the calls a rule faults at once by max_active_faults", () => {
    const faults = injector({ faults: [{ max_active_faults: 2, delay: { fixed_delay: "1s", percentage: { numerator: 100 } } }] });
    const first = faults.plan(authorize);
    const second = faults.plan(authorize);
    expect(first?.delayMs).to.equal(1000);
    expect(second?.delayMs).to.equal(1000);
    expect(faults.plan(authorize)).to.equal(undefined);
    first?.release();
    first?.release();
    expect(faults.plan(authorize)?.delayMs).to.equal(1000);
    expect(faults.plan(authorize)).to.equal(undefined);
  });

  it("is replaced whole at run time, and refuses a bad configuration without changing", () => {
    const faults = injector({ faults: [{ abort: { grpc_status: 14, percentage: { numerator: 100 } } }] });
    const bad = parseFaultConfig("{}", "test");
    bad.faults.push({ ...faults.config.faults[0]!, abort: undefined });
    expect(() => faults.set(bad)).to.throw(/faults\[0\]: a rule needs a delay, an abort or both/);
    expect(faults.plan(authorize)?.abort).to.equal(Code.Unavailable);
    faults.set(parseFaultConfig("{}", "test"));
    expect(faults.active).to.equal(false);
  });
});

describe("fault configuration (MESH_FAULTS)", () => {
  it("reads Envoy's field names and JSON (snake_case, durations, denominators) inline or from a file", () => {
    const json = '{"faults":[{"service":"meshwork.payments.v1.PaymentService","delay":{"fixed_delay":"0.2s","percentage":{"numerator":50,"denominator":"HUNDRED"}}}]}';
    const inline = faultConfigFromSetting(json, "MESH_FAULTS");
    expect(inline.faults[0]?.delay?.delayType).to.deep.include({ case: "fixedDelay" });
    const dir = mkdtempSync(path.join(os.tmpdir(), "faults-"));
    try {
      const file = path.join(dir, "faults.json");
      writeFileSync(file, json);
      expect(faultConfigFromSetting(file, "MESH_FAULTS").faults).to.have.length(1);
      expect(() => faultConfigFromSetting(path.join(dir, "missing.json"), "MESH_FAULTS")).to.throw(/MESH_FAULTS: cannot read .*missing\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const refused: [string, string, RegExp][] = [
    ["not JSON", "{faults:", /MESH_FAULTS: not JSON/],
    ["an unknown field", '{"faults":[{"abortt":{}}]}', /MESH_FAULTS: .*abortt/],
    ["a gRPC status out of range", '{"faults":[{"abort":{"grpc_status":0,"percentage":{"numerator":1}}}]}', /grpc_status/],
    ["a missing percentage", '{"faults":[{"abort":{"grpc_status":14}}]}', /percentage/],
    ["a delay of zero", '{"faults":[{"delay":{"fixed_delay":"0s","percentage":{"numerator":1}}}]}', /fixed_delay/],
    ["a rule with neither delay nor abort", '{"faults":[{"service":"x.y.Z"}]}', /needs a delay, an abort or both/],
    ["an abort with no kind", '{"faults":[{"abort":{"percentage":{"numerator":1}}}]}', /one of grpc_status, http_status or header_abort/],
    ["header faults without allowed callers", '{"faults":[{"abort":{"header_abort":{},"percentage":{"numerator":100}}}]}', /need downstream_nodes/],
    [
      "header faults on outbound calls",
      '{"faults":[{"direction":"DIRECTION_OUTBOUND","abort":{"header_abort":{},"percentage":{"numerator":100}}}]}',
      /inbound rules only/,
    ],
    ["upstream_cluster on an inbound rule", '{"faults":[{"upstream_cluster":"a","abort":{"grpc_status":14,"percentage":{"numerator":1}}}]}', /outbound rules only/],
  ];
  for (const [what, json, message] of refused) {
    it(`refuses ${what}, naming the setting`, () => {
      expect(() => faultConfigFromSetting(json, "MESH_FAULTS")).to.throw(Error, message).with.property("message").that.matches(/^MESH_FAULTS/);
    });
  }
});
