/**
 * Proves the contract gate (scripts/proto-check.sh, `make proto-check`): in a
 * copy of the contracts, released there by scripts/release-api.sh, each
 * breaking mutation of a stable package makes the gate fail and name the buf
 * rule at the edited file, and each safe change passes format, lint and
 * breaking; a change that widens who may call a method (meshwork.access.v1)
 * fails the access step naming the method and the caller, until released on
 * purpose. The gen/ freshness step is not run here: the mutations do not
 * regenerate code.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
const buf = path.join(root, "node_modules/.bin/buf");

const payments = "proto/meshwork/payments/v1/payments.proto";
const inventory = "proto/meshwork/inventory/v1/inventory.proto";

interface Run {
  code: number;
  output: string;
}

function run(dir: string, command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: dir, env: { ...process.env, BUF: buf, ...env } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** Replaces the one occurrence of `from` in a file; a mutation that no longer applies fails loudly. */
async function edit(dir: string, file: string, from: string, to: string): Promise<void> {
  const full = path.join(dir, file);
  const text = await readFile(full, "utf8");
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`mutation does not apply: expected exactly one ${JSON.stringify(from)} in ${file}`);
  }
  await writeFile(full, text.slice(0, at) + to + text.slice(at + from.length));
}

async function write(dir: string, file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
  await writeFile(path.join(dir, file), text);
}

/** A copy of payments.proto as another package of the same name family, e.g. meshwork.payments.v2. */
async function copyPackage(dir: string, version: string): Promise<void> {
  const text = await readFile(path.join(dir, payments), "utf8");
  const from = "package meshwork.payments.v1;";
  if (!text.includes(from)) throw new Error(`mutation does not apply: no ${from}`);
  await write(dir, `proto/meshwork/payments/${version}/payments.proto`, text.replace(from, `package meshwork.payments.${version};`));
}

interface Mutation {
  name: string;
  file: string;
  rules: string[];
  apply: (dir: string) => Promise<void>;
}

const breaking: Mutation[] = [
  {
    name: "delete a field",
    file: payments,
    rules: ["FIELD_NO_DELETE"],
    apply: (d) => edit(d, payments, "  // The order the payment is for, if the caller named one.\n  string order_id = 2;\n", ""),
  },
  {
    name: "change a field's type",
    file: payments,
    rules: ["FIELD_SAME_TYPE"],
    apply: (d) => edit(d, payments, "  int64 amount_minor = 3;\n  // The ISO 4217 currency code.\n", "  int32 amount_minor = 3;\n  // The ISO 4217 currency code.\n"),
  },
  {
    // buf sees the old number deleted (and a new one added): FIELD_NO_DELETE.
    name: "change a field's number",
    file: payments,
    rules: ["FIELD_NO_DELETE"],
    apply: (d) => edit(d, payments, "  int64 amount_minor = 3;\n  // The ISO 4217 currency code.\n", "  int64 amount_minor = 8;\n  // The ISO 4217 currency code.\n"),
  },
  {
    name: "rename a field (breaks JSON and generated code)",
    file: payments,
    rules: ["FIELD_SAME_JSON_NAME", "FIELD_SAME_NAME"],
    apply: (d) => edit(d, payments, "  int64 amount_minor = 3;\n  // The ISO 4217 currency code.\n", "  int64 amount_minor_units = 3;\n  // The ISO 4217 currency code.\n"),
  },
  {
    name: "delete an RPC",
    file: payments,
    rules: ["RPC_NO_DELETE"],
    apply: (d) =>
      edit(
        d,
        payments,
        "\n\n  // GetPayment returns one payment.\n  rpc GetPayment(GetPaymentRequest) returns (GetPaymentResponse) {\n    option idempotency_level = NO_SIDE_EFFECTS;\n  }\n",
        "\n",
      ),
  },
  {
    name: "change an RPC's request type",
    file: payments,
    rules: ["RPC_SAME_REQUEST_TYPE"],
    apply: (d) => edit(d, payments, "rpc VoidPayment(VoidPaymentRequest)", "rpc VoidPayment(CapturePaymentRequest)"),
  },
  {
    name: "change an RPC's response type",
    file: payments,
    rules: ["RPC_SAME_RESPONSE_TYPE"],
    apply: (d) => edit(d, payments, "returns (VoidPaymentResponse)", "returns (CapturePaymentResponse)"),
  },
  {
    name: "make an RPC server-streaming",
    file: payments,
    rules: ["RPC_SAME_SERVER_STREAMING"],
    apply: (d) => edit(d, payments, "returns (GetPaymentResponse)", "returns (stream GetPaymentResponse)"),
  },
  {
    name: "delete an enum value",
    file: payments,
    rules: ["ENUM_VALUE_NO_DELETE"],
    apply: (d) => edit(d, payments, "  // The authorization was cancelled and the hold released.\n  PAYMENT_STATE_VOIDED = 3;\n", ""),
  },
  {
    name: "make a field repeated",
    file: inventory,
    rules: ["FIELD_SAME_CARDINALITY"],
    apply: (d) => edit(d, inventory, "  string next_page_token = 2;\n", "  repeated string next_page_token = 2;\n"),
  },
  {
    name: "move a message to another package",
    file: inventory,
    rules: ["MESSAGE_NO_DELETE", "FIELD_SAME_TYPE"],
    apply: async (d) => {
      const text = await readFile(path.join(d, inventory), "utf8");
      const start = text.indexOf("// ReservationLine is the quantity");
      const end = text.indexOf("// ReservationState is where");
      if (start < 0 || end < start) throw new Error("mutation does not apply: no ReservationLine in inventory.proto");
      const message = text.slice(start, end);
      await write(
        d,
        "proto/meshwork/stock/v1/stock.proto",
        `syntax = "proto3";\n\npackage meshwork.stock.v1;\n\nimport "buf/validate/validate.proto";\n\n${message.trimEnd()}\n`,
      );
      let moved = text.slice(0, start) + text.slice(end);
      moved = moved.replace('import "google/protobuf/timestamp.proto";\n', 'import "google/protobuf/timestamp.proto";\nimport "meshwork/stock/v1/stock.proto";\n');
      moved = moved.replaceAll("repeated ReservationLine lines", "repeated meshwork.stock.v1.ReservationLine lines");
      await writeFile(path.join(d, inventory), moved);
    },
  },
  {
    // No line in the working tree to point at: reported at the baseline.
    name: "delete a file of a released package",
    file: "api/released.binpb",
    rules: ["FILE_NO_DELETE"],
    apply: (d) => rm(path.join(d, payments)),
  },
  {
    name: "change idempotency_level (the mesh retries by it)",
    file: payments,
    rules: ["RPC_SAME_IDEMPOTENCY_LEVEL"],
    apply: (d) =>
      edit(
        d,
        payments,
        "rpc CapturePayment(CapturePaymentRequest) returns (CapturePaymentResponse) {\n    option idempotency_level = IDEMPOTENT;",
        "rpc CapturePayment(CapturePaymentRequest) returns (CapturePaymentResponse) {\n    option idempotency_level = NO_SIDE_EFFECTS;",
      ),
  },
  {
    name: "drop idempotency_level (IDEMPOTENT becomes IDEMPOTENCY_UNKNOWN: no more retries)",
    file: payments,
    rules: ["RPC_SAME_IDEMPOTENCY_LEVEL"],
    apply: (d) =>
      edit(
        d,
        payments,
        "rpc CapturePayment(CapturePaymentRequest) returns (CapturePaymentResponse) {\n    option idempotency_level = IDEMPOTENT;\n  }",
        "rpc CapturePayment(CapturePaymentRequest) returns (CapturePaymentResponse);",
      ),
  },
];

const safe: { name: string; apply: (dir: string) => Promise<void> }[] = [
  {
    name: "add a field",
    apply: (d) =>
      edit(
        d,
        payments,
        "  // When the payment last changed state.\n  google.protobuf.Timestamp updated_at = 7;\n",
        "  // When the payment last changed state.\n  google.protobuf.Timestamp updated_at = 7;\n  // The last four digits of the card, when the processor returns them.\n  string card_last4 = 8;\n",
      ),
  },
  {
    name: "add an RPC",
    apply: async (d) => {
      await edit(
        d,
        payments,
        "    option idempotency_level = NO_SIDE_EFFECTS;\n  }\n}\n",
        "    option idempotency_level = NO_SIDE_EFFECTS;\n  }\n\n  // RefundPayment returns a captured payment's amount to the card.\n  rpc RefundPayment(RefundPaymentRequest) returns (RefundPaymentResponse) {\n    option idempotency_level = IDEMPOTENT;\n  }\n}\n",
      );
      await appendFile(
        path.join(d, payments),
        "\n// RefundPaymentRequest names the payment to refund.\nmessage RefundPaymentRequest {\n  // The payment's id.\n  string payment_id = 1;\n}\n\n// RefundPaymentResponse carries the refunded payment.\nmessage RefundPaymentResponse {\n  // The refunded payment.\n  Payment payment = 1;\n}\n",
      );
    },
  },
  {
    name: "add an enum value",
    apply: (d) =>
      edit(
        d,
        payments,
        "  PAYMENT_STATE_VOIDED = 3;\n",
        "  PAYMENT_STATE_VOIDED = 3;\n  // The captured amount was returned to the card.\n  PAYMENT_STATE_REFUNDED = 4;\n",
      ),
  },
  { name: "add a new package version (meshwork.payments.v2)", apply: (d) => copyPackage(d, "v2") },
  {
    name: "edit comments",
    apply: async (d) => {
      await edit(d, payments, "  // GetPayment returns one payment.\n", "  // GetPayment returns one payment, in whatever state it is now.\n");
      await edit(d, payments, "  // The payment's state.\n", "  // The payment's state; see PaymentState.\n");
    },
  },
];

describe("contract gate: buf breaking against the released API", function () {
  this.timeout(120_000);
  let dir = "";

  /**
   * The gate's steps that do not need generated code, as CI runs them (the
   * access step only where a case is about callers: each run of it costs a
   * buf build and a node start).
   */
  const gate = (steps = ["format", "lint", "breaking"]) => run(dir, "scripts/proto-check.sh", steps);
  const accessGate = () => gate(["format", "lint", "breaking", "access"]);

  before(async function () {
    dir = await mkdtemp(path.join(tmpdir(), "meshwork-gate-"));
    for (const entry of ["buf.yaml", "third_party", "proto-deps", "test/proto"]) {
      await cp(path.join(root, entry), path.join(dir, entry), { recursive: true });
    }
    await cp(path.join(root, "proto"), path.join(dir, "pristine"), { recursive: true });
    for (const script of ["proto-check.sh", "release-api.sh", "access-check.ts"]) {
      await cp(path.join(root, "scripts", script), path.join(dir, "scripts", script));
    }
    // The access step's checker reads the contracts with the repository's own code.
    for (const entry of ["node_modules", "gen", "mesh"]) {
      await symlink(path.join(root, entry), path.join(dir, entry));
    }
    // Release the contracts as they are now: the mutations are judged against
    // this copy, whatever the committed baseline is (that one is the gate's
    // own business in `make proto-check`).
    await cp(path.join(dir, "pristine"), path.join(dir, "proto"), { recursive: true });
    const released = await run(dir, "scripts/release-api.sh", []);
    expect(released.code, released.output).to.equal(0);
    await cp(path.join(dir, "api"), path.join(dir, "api.released"), { recursive: true });
  });

  beforeEach(async function () {
    for (const entry of ["proto", "api"]) await rm(path.join(dir, entry), { recursive: true, force: true });
    await cp(path.join(dir, "pristine"), path.join(dir, "proto"), { recursive: true });
    await cp(path.join(dir, "api.released"), path.join(dir, "api"), { recursive: true });
  });

  after(async function () {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("passes the contracts as released", async function () {
    const result = await accessGate();
    expect(result.code, result.output).to.equal(0);
    expect(result.output).to.include("proto-check breaking: ok");
  });

  for (const mutation of breaking) {
    it(`fails on a breaking change: ${mutation.name} (${mutation.rules.join(", ")})`, async function () {
      await mutation.apply(dir);
      const result = await gate();
      expect(result.code, result.output).to.not.equal(0);
      expect(result.output).to.include("proto-check breaking: FAILED");
      for (const rule of mutation.rules) {
        const location = mutation.file.endsWith(".proto") ? String.raw`:\d+:\d+` : "";
        const at = new RegExp(`^${mutation.file.replaceAll(".", "\\.")}${location}: ${rule} `, "m");
        expect(result.output, `expected ${rule} at ${mutation.file}:line:col`).to.match(at);
      }
    });
  }

  for (const change of safe) {
    it(`passes a safe change: ${change.name}`, async function () {
      await change.apply(dir);
      const result = await gate();
      expect(result.code, result.output).to.equal(0);
    });
  }

  it("ignores breaking changes in unstable packages (ignore_unstable_packages)", async function () {
    // Released with a v1beta1 package in the baseline (release-api.sh itself
    // leaves unstable packages out), which then loses a field.
    await copyPackage(dir, "v1beta1");
    const beta = payments.replace("/v1/", "/v1beta1/");
    const built = await run(dir, buf, ["build", "proto", "-o", "api/released.binpb"]);
    expect(built.code, built.output).to.equal(0);
    const text = await run(dir, buf, ["build", "api/released.binpb", "--exclude-imports", "--exclude-source-info", "-o", "api/released.txtpb"]);
    expect(text.code, text.output).to.equal(0);
    await edit(dir, beta, "  // The order the payment is for, if the caller named one.\n  string order_id = 2;\n", "");
    const result = await gate();
    expect(result.code, result.output).to.equal(0);
  });

  it("moves the baseline only through release-api, which refuses a breaking release unless ALLOW_BREAKING=1", async function () {
    await edit(dir, payments, "  // The authorization was cancelled and the hold released.\n  PAYMENT_STATE_VOIDED = 3;\n", "");
    const refused = await run(dir, "scripts/release-api.sh", []);
    expect(refused.code, refused.output).to.not.equal(0);
    expect(refused.output).to.match(/ENUM_VALUE_NO_DELETE/).and.to.include("ALLOW_BREAKING=1");
    expect((await gate()).code).to.not.equal(0);

    const released = await run(dir, "scripts/release-api.sh", [], { ALLOW_BREAKING: "1" });
    expect(released.code, released.output).to.equal(0);
    const result = await gate();
    expect(result.code, result.output).to.equal(0);
  });

  describe("who may call what (meshwork.access.v1)", function () {
    const paymentsCallers = '  option (meshwork.access.v1.default_callers) = {\n    services: ["orders"]\n  };';

    it("fails on a widening, naming the method and the new caller at the method", async function () {
      await edit(dir, payments, paymentsCallers, '  option (meshwork.access.v1.default_callers) = {\n    services: [\n      "orders",\n      "gateway"\n    ]\n  };');
      const result = await accessGate();
      expect(result.code, result.output).to.not.equal(0);
      expect(result.output).to.include("proto-check access: FAILED");
      expect(result.output).to.match(
        /^proto\/meshwork\/payments\/v1\/payments\.proto:\d+:\d+: ACCESS_WIDENED widened: meshwork\.payments\.v1\.PaymentService\/AuthorizePayment now allows gateway$/m,
      );
      expect(result.output).to.include("ALLOW_ACCESS_WIDENING=1");
    });

    it("fails when operators or a customer asserter are let in", async function () {
      await edit(dir, payments, paymentsCallers, '  option (meshwork.access.v1.default_callers) = {\n    services: ["orders"]\n    operators: true\n    assert_customer: ["orders"]\n  };');
      const result = await accessGate();
      expect(result.code, result.output).to.not.equal(0);
      expect(result.output).to.include("widened: meshwork.payments.v1.PaymentService/VoidPayment now allows operators");
      expect(result.output).to.include("widened: meshwork.payments.v1.PaymentService/VoidPayment now lets orders assert the customer");
    });

    it("passes a narrowing, reporting it", async function () {
      await edit(dir, inventory, '      services: [\n        "gateway",\n        "orders"\n      ]\n      operators: true', '      services: ["gateway"]\n      operators: true');
      const result = await accessGate();
      expect(result.code, result.output).to.equal(0);
      expect(result.output).to.include("ACCESS_NARROWED narrowed: meshwork.inventory.v1.InventoryService/GetItem no longer allows orders");
    });

    it("passes a new method with its own callers", async function () {
      await edit(
        dir,
        payments,
        "    option idempotency_level = NO_SIDE_EFFECTS;\n  }\n}\n",
        '    option idempotency_level = NO_SIDE_EFFECTS;\n  }\n\n  // RefundPayment returns a captured payment\'s amount to the card.\n  rpc RefundPayment(RefundPaymentRequest) returns (RefundPaymentResponse) {\n    option idempotency_level = IDEMPOTENT;\n    option (meshwork.access.v1.callers) = {\n      services: ["gateway"]\n    };\n  }\n}\n',
      );
      await appendFile(
        path.join(dir, payments),
        "\n// RefundPaymentRequest names the payment to refund.\nmessage RefundPaymentRequest {\n  // The payment's id.\n  string payment_id = 1;\n}\n\n// RefundPaymentResponse carries the refunded payment.\nmessage RefundPaymentResponse {\n  // The refunded payment.\n  Payment payment = 1;\n}\n",
      );
      const result = await accessGate();
      expect(result.code, result.output).to.equal(0);
      expect(result.output).to.include("ACCESS_NEW new: meshwork.payments.v1.PaymentService/RefundPayment allows gateway");
    });

    it("moves the baseline past a widening only with ALLOW_ACCESS_WIDENING=1", async function () {
      await edit(dir, payments, paymentsCallers, '  option (meshwork.access.v1.default_callers) = {\n    services: [\n      "orders",\n      "gateway"\n    ]\n  };');
      const refused = await run(dir, "scripts/release-api.sh", []);
      expect(refused.code, refused.output).to.not.equal(0);
      expect(refused.output).to.include("now allows gateway").and.to.include("ALLOW_ACCESS_WIDENING=1");
      const released = await run(dir, "scripts/release-api.sh", [], { ALLOW_ACCESS_WIDENING: "1" });
      expect(released.code, released.output).to.equal(0);
      const result = await accessGate();
      expect(result.code, result.output).to.equal(0);
    });

  });

  it("fails when the reviewable baseline does not match the binary one", async function () {
    await appendFile(path.join(dir, "api/released.txtpb"), "# edited by hand\n");
    const result = await gate();
    expect(result.code, result.output).to.not.equal(0);
    expect(result.output).to.include("api/released.txtpb does not match api/released.binpb");
  });

  it("fails, saying how to create it, when there is no baseline", async function () {
    await rm(path.join(dir, "api"), { recursive: true });
    const result = await gate();
    expect(result.code, result.output).to.not.equal(0);
    expect(result.output).to.include("make release-api");
  });
});
