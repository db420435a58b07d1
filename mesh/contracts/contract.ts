import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { isMatcher, type Expected } from "./field-matcher.js";

/**
 * A consumer-driven contract: the calls one consumer makes to one provider
 * and, for each, only what the consumer relies on in the answer (the fields it
 * reads, or the code and ErrorInfo reason it branches on). A provider may add
 * fields or change anything nobody reads; it may not change what is written
 * here. Stored as `contracts/<consumer>/<provider>.v<version>.json`.
 */
export interface Contract {
  readonly consumer: string;
  readonly provider: string;
  /** Fully qualified service name, e.g. "meshwork.inventory.v1.InventoryService". */
  readonly service: string;
  readonly interactions: readonly Interaction[];
}

export interface Interaction {
  /** Unique within the contract; names the interaction in every failure. */
  readonly name: string;
  /** Calls that put a fresh provider in the state the interaction needs; each must succeed. */
  readonly setup?: readonly SetupCall[];
  /** The method's simple name, e.g. "ReserveStock". */
  readonly method: string;
  /**
   * The request in proto3 JSON. An object `{"$from": "setup[0].payment.paymentId"}`
   * stands for a value the provider generated in a setup call's response.
   */
  readonly request: JsonObject;
  /** Request headers the provider relies on, e.g. x-customer-id. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly expect: Expectation;
}

export interface SetupCall {
  readonly method: string;
  readonly request: JsonObject;
  readonly headers?: Readonly<Record<string, string>>;
  /** Time to let pass after the call (e.g. for a reservation's TTL to run out). */
  readonly waitMs?: number;
}

export type Expectation = ExpectOk | ExpectError;

export interface ExpectOk {
  readonly ok: true;
  /** proto3 JSON path (e.g. "item.priceMinor", "items[*].sku") -> value or matcher. */
  readonly fields: Readonly<Record<string, Expected>>;
}

export interface ExpectError {
  readonly ok: false;
  /** The Connect code in snake case, e.g. "failed_precondition". */
  readonly code: string;
  /** The google.rpc.ErrorInfo reason, when the consumer relies on it. */
  readonly reason?: string;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Reading a contract file failed; the message names the file and the offending place. */
export class ContractError extends Error {
  override name = "ContractError";
}

/** Reads and validates one contract file. */
export function loadContract(file: string): Contract {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ContractError(`${file}: not readable JSON: ${(err as Error).message}`);
  }
  return parseContract(json, file);
}

/** Every consumer's contracts with `provider`: `<dir>/<consumer>/<provider>.v<n>.json`, sorted by path. */
export function findContracts(dir: string, provider: string): Contract[] {
  const isContractFile = (name: string): boolean =>
    name.startsWith(`${provider}.v`) && /^\d+\.json$/.test(name.slice(provider.length + 2));
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) =>
      readdirSync(path.join(dir, entry.name))
        .filter(isContractFile)
        .map((name) => path.join(dir, entry.name, name)),
    )
    .sort();
  return files.map(loadContract);
}

/** Checks the shape of a parsed contract; `source` names it in errors. */
export function parseContract(json: unknown, source: string): Contract {
  const at = (where: string, problem: string): ContractError => new ContractError(`${source}: ${where}: ${problem}`);
  const root = object(json, "contract", at);
  for (const key of ["consumer", "provider", "service"] as const) {
    nonEmptyString(root[key], key, at);
  }
  if (!Array.isArray(root.interactions)) {
    throw at("interactions", "must be an array");
  }
  const names = new Set<string>();
  root.interactions.forEach((raw, i) => {
    const where = `interactions[${i}]`;
    const interaction = object(raw, where, at);
    const name = nonEmptyString(interaction.name, `${where}.name`, at);
    if (names.has(name)) {
      throw at(`${where}.name`, `"${name}" appears twice`);
    }
    names.add(name);
    checkCall(interaction, `interaction "${name}"`, at);
    if (interaction.setup !== undefined) {
      if (!Array.isArray(interaction.setup)) {
        throw at(`interaction "${name}".setup`, "must be an array");
      }
      interaction.setup.forEach((step, j) => {
        const stepWhere = `interaction "${name}".setup[${j}]`;
        const call = object(step, stepWhere, at);
        checkCall(call, stepWhere, at);
        if (call.waitMs !== undefined && !(typeof call.waitMs === "number" && call.waitMs >= 0)) {
          throw at(`${stepWhere}.waitMs`, "must be a number >= 0");
        }
      });
    }
    checkExpectation(interaction.expect, `interaction "${name}".expect`, at);
  });
  return json as Contract;
}

type At = (where: string, problem: string) => ContractError;

function checkCall(call: Record<string, unknown>, where: string, at: At): void {
  nonEmptyString(call.method, `${where}.method`, at);
  object(call.request, `${where}.request`, at);
  if (call.headers !== undefined) {
    const headers = object(call.headers, `${where}.headers`, at);
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== "string") {
        throw at(`${where}.headers.${name}`, "must be a string");
      }
    }
  }
}

function checkExpectation(raw: unknown, where: string, at: At): void {
  const expect = object(raw, where, at);
  if (expect.ok === true) {
    const fields = object(expect.fields, `${where}.fields`, at);
    for (const [field, expected] of Object.entries(fields)) {
      if (typeof expected === "object" && expected !== null && !Array.isArray(expected) && !isMatcher(expected)) {
        throw at(`${where}.fields["${field}"]`, 'an object must be a matcher: {"type"}, {"present"} or {"equals"}');
      }
    }
    return;
  }
  if (expect.ok === false) {
    const code = nonEmptyString(expect.code, `${where}.code`, at);
    if (!/^[a-z_]+$/.test(code)) {
      throw at(`${where}.code`, `"${code}" is not a snake_case Connect code`);
    }
    if (expect.reason !== undefined) {
      nonEmptyString(expect.reason, `${where}.reason`, at);
    }
    return;
  }
  throw at(`${where}.ok`, "must be true or false");
}

function object(value: unknown, where: string, at: At): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw at(where, "must be an object");
  }
  return value as Record<string, unknown>;
}

function nonEmptyString(value: unknown, where: string, at: At): string {
  if (typeof value !== "string" || value === "") {
    throw at(where, "must be a non-empty string");
  }
  return value;
}
