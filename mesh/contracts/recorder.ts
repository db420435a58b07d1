import { ScalarType, toJson, type DescField, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { reasonOf } from "../errors.js";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Contract, Expectation, Interaction, JsonObject, JsonValue, SetupCall } from "./contract.js";
import { jsonTypeOf, type Expected } from "./field-matcher.js";
import { stringLeaves, valuesAt } from "./json-path.js";

/**
 * How a consumer relies on a response field: "type" (it reads the field as
 * its type: recorded as a type matcher), "value" (it branches on the value:
 * recorded literally), "present" (it needs the field, whatever it holds).
 */
export type FieldUse = "type" | "value" | "present";

export interface ContractRecorderOptions {
  readonly consumer: string;
  readonly provider: string;
  readonly service: DescService;
  /**
   * Per method simple name, the response fields the consumer reads, as
   * proto3 JSON paths ("item.priceMinor", "items[*].sku"). A method not
   * named here is recorded as "succeeds", with no fields.
   */
  readonly reads?: Readonly<Record<string, Readonly<Record<string, FieldUse>>>>;
  /** Request headers the provider relies on (e.g. x-customer-id); others are not recorded. */
  readonly headers?: readonly string[];
}

interface RecordedCall {
  readonly method: string;
  readonly output: DescMessage;
  readonly request: JsonObject;
  readonly headers: Record<string, string>;
  readonly response?: JsonObject;
  readonly error?: ConnectError;
  waitMs?: number;
}

/** Provider-made values shorter than this are taken as literals: "USD" in two places is no coincidence worth a reference. */
const minReferenceLength = 8;

/**
 * Records a consumer's real calls to one provider as a contract. Put
 * `interceptor` on the consumer's client (e.g. `new ClientFactory({
 * interceptors: [recorder.interceptor] })`), then drive the consumer's own
 * code inside `interaction(name, run)`: the last call `run` makes to the
 * provider becomes the interaction, earlier ones its setup. A request value
 * the provider generated in an earlier response (a payment id) is recorded as
 * a reference to it, so a replay uses the value the provider generates then.
 * Calls to other services, and calls outside `interaction`, pass unrecorded.
 */
export class ContractRecorder {
  readonly interceptor: Interceptor;
  private readonly interactions: Interaction[] = [];
  private current: RecordedCall[] | undefined;

  constructor(private readonly options: ContractRecorderOptions) {
    this.interceptor = (next) => async (req) => {
      const calls = this.current;
      if (calls === undefined || req.stream || req.service.typeName !== options.service.typeName) {
        return next(req);
      }
      const base = {
        method: req.method.name,
        output: req.method.output,
        request: toJson(req.method.input, req.message as never) as JsonObject,
        headers: this.pickHeaders(req.header),
      };
      try {
        const res = await next(req);
        if (!res.stream) {
          const response = toJson(res.method.output, res.message as never, { alwaysEmitImplicit: true }) as JsonObject;
          calls.push({ ...base, response });
        }
        return res;
      } catch (err) {
        calls.push({ ...base, error: ConnectError.from(err) });
        throw err;
      }
    };
  }

  /**
   * Runs `run` and records its calls to the provider as one interaction. An
   * error `run` throws because the interaction's call failed is the recorded
   * outcome and is not rethrown; any other error is.
   */
  async interaction(name: string, run: () => Promise<unknown>): Promise<void> {
    if (this.current !== undefined) {
      throw new Error(`interaction "${name}" started inside another; record them one at a time`);
    }
    if (this.interactions.some((i) => i.name === name)) {
      throw new Error(`interaction "${name}" is recorded twice`);
    }
    const calls: RecordedCall[] = [];
    this.current = calls;
    let failure: { error: unknown } | undefined;
    try {
      await run();
    } catch (err) {
      failure = { error: err };
    } finally {
      this.current = undefined;
    }
    const last = calls.at(-1);
    if (last === undefined) {
      throw new Error(`interaction "${name}" made no call to ${this.options.service.typeName}`, { cause: failure?.error });
    }
    if (failure !== undefined && last.error === undefined) {
      throw failure.error;
    }
    this.interactions.push(this.build(name, calls));
  }

  /** Lets `ms` pass inside an interaction, recorded as a wait after the last call (e.g. to outlive a TTL). */
  async pause(ms: number): Promise<void> {
    const last = this.current?.at(-1);
    if (last === undefined) {
      throw new Error("pause belongs inside an interaction, after a call");
    }
    last.waitMs = (last.waitMs ?? 0) + ms;
    await sleep(ms);
  }

  /** The contract recorded so far, interactions in recording order. */
  contract(): Contract {
    const { consumer, provider, service } = this.options;
    return { consumer, provider, service: service.typeName, interactions: [...this.interactions] };
  }

  private build(name: string, calls: readonly RecordedCall[]): Interaction {
    const steps = calls.map((call, i) => withReferences(call, calls.slice(0, i)));
    const setup: SetupCall[] = calls.slice(0, -1).map((call, i) => {
      if (call.error !== undefined) {
        throw new Error(`interaction "${name}": setup call ${call.method} failed (${codeToString(call.error.code)}); setup must succeed`);
      }
      return {
        method: call.method,
        request: steps[i]!,
        ...(Object.keys(call.headers).length > 0 ? { headers: call.headers } : {}),
        ...(call.waitMs !== undefined ? { waitMs: call.waitMs } : {}),
      };
    });
    const last = calls.at(-1)!;
    return {
      name,
      ...(setup.length > 0 ? { setup } : {}),
      method: last.method,
      request: steps.at(-1)!,
      ...(Object.keys(last.headers).length > 0 ? { headers: last.headers } : {}),
      expect: this.expectation(name, last),
    };
  }

  private expectation(name: string, call: RecordedCall): Expectation {
    if (call.error !== undefined) {
      const reason = reasonOf(call.error);
      return { ok: false, code: codeToString(call.error.code), ...(reason === undefined ? {} : { reason }) };
    }
    const fields: Record<string, Expected> = {};
    for (const [path, use] of Object.entries(this.options.reads?.[call.method] ?? {})) {
      const values = valuesAt(call.response, path);
      if (values.length === 0) {
        throw new Error(`interaction "${name}": ${call.method} response has no ${path} to record`);
      }
      fields[path] = expectedOf(use, values[0], isIntegerField(call.output, path));
    }
    return { ok: true, fields };
  }

  private pickHeaders(header: Headers): Record<string, string> {
    const picked: Record<string, string> = {};
    for (const name of this.options.headers ?? []) {
      const value = header.get(name);
      if (value !== null) {
        picked[name] = value;
      }
    }
    return picked;
  }
}

/** Pretty, stable contract text: what `writeContract` writes and what a freshly recorded contract is compared by. */
export function contractJson(contract: Contract): string {
  return `${JSON.stringify(contract, null, 2)}\n`;
}

export function writeContract(file: string, contract: Contract): void {
  writeFileSync(file, contractJson(contract));
}

function expectedOf(use: FieldUse, value: unknown, integer: boolean): Expected {
  switch (use) {
    case "present":
      return { present: true };
    case "type":
      return { type: jsonTypeOf(value, integer) };
    case "value":
      return typeof value === "object" && value !== null && !Array.isArray(value) ? { equals: value } : (value as Expected);
  }
}

/** The request of `call` with every value whose first appearance was in an earlier response replaced by a reference to it. */
function withReferences(call: RecordedCall, earlier: readonly RecordedCall[]): JsonObject {
  // value -> where the provider first made it, or undefined when the consumer sent it first.
  const origin = new Map<string, string | undefined>();
  earlier.forEach((c, i) => {
    for (const [, value] of stringLeaves(c.request, "")) {
      if (!origin.has(value)) {
        origin.set(value, undefined);
      }
    }
    for (const [path, value] of stringLeaves(c.response ?? {}, `setup[${i}]`)) {
      if (value.length >= minReferenceLength && !origin.has(value)) {
        origin.set(value, path);
      }
    }
  });
  return replaceStrings(call.request, (value) => {
    const from = origin.get(value);
    return from === undefined ? value : { $from: from };
  }) as JsonObject;
}

function replaceStrings(json: JsonValue, replace: (value: string) => JsonValue): JsonValue {
  if (typeof json === "string") {
    return replace(json);
  }
  if (Array.isArray(json)) {
    return json.map((element) => replaceStrings(element, replace));
  }
  if (json !== null && typeof json === "object") {
    return Object.fromEntries(Object.entries(json).map(([key, value]) => [key, replaceStrings(value, replace)]));
  }
  return json;
}

const integerScalars = new Set<ScalarType>([
  ScalarType.INT32, ScalarType.INT64, ScalarType.UINT32, ScalarType.UINT64, ScalarType.SINT32, ScalarType.SINT64,
  ScalarType.FIXED32, ScalarType.FIXED64, ScalarType.SFIXED32, ScalarType.SFIXED64,
]);

/** Whether `path` ends at an integer field of `schema` (64-bit ones are digit strings in proto3 JSON). */
function isIntegerField(schema: DescMessage, path: string): boolean {
  let message: DescMessage | undefined = schema;
  let field: DescField | undefined;
  for (const segment of path.split(".")) {
    const name = segment.replace(/\[.*$/, "");
    field = message?.fields.find((f) => f.jsonName === name || f.name === name);
    message = field?.message;
  }
  if (field === undefined) {
    return false;
  }
  const scalar = field.fieldKind === "scalar" ? field.scalar : field.fieldKind === "list" ? field.scalar : undefined;
  return scalar !== undefined && integerScalars.has(scalar);
}
