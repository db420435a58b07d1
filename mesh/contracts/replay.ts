import { fromJson, toJson, type DescMethodUnary } from "@bufbuild/protobuf";
import { ConnectError, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { reasonOf } from "../errors.js";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Contract, Expectation, Interaction, JsonObject, JsonValue } from "./contract.js";
import { mismatch } from "./field-matcher.js";
import { valuesAt } from "./json-path.js";
import type { ServiceRegistry } from "./service-registry.js";

export interface ReplayOptions {
  /** The provider's base URL, e.g. https://127.0.0.1:41234 (spoken to over gRPC). */
  readonly baseUrl: string;
  /** HTTP/2 session options, e.g. the consumer's client certificate for an mTLS provider. Default: none. */
  readonly sessionOptions?: http2.SecureClientSessionOptions;
  /** Where the contract's service is looked up by name. */
  readonly registry: ServiceRegistry;
  /** Deadline of each call. Default: 10 s, far above any contract call's need. */
  readonly timeoutMs?: number;
}

/** One interaction a provider broke, in words that name the consumer and the interaction. */
export interface ContractFailure {
  readonly consumer: string;
  readonly interaction: string;
  /** e.g. `consumer "orders" interaction "reserve ...": expected failed_precondition INSUFFICIENT_STOCK, got not_found (...)` */
  readonly message: string;
}

type Outcome = { readonly response: JsonObject } | { readonly error: ConnectError };

/**
 * Replays contracts against a real provider: each interaction's setup calls,
 * then its call, compared with what the consumer relies on. A plain gRPC
 * client, no retries or breakers, so the provider's own answer is judged.
 * Close it when done.
 */
export class ContractReplayer {
  private readonly sessions: Http2SessionManager;
  private readonly transport: Transport;
  private readonly timeoutMs: number;

  constructor(private readonly options: ReplayOptions) {
    this.sessions = new Http2SessionManager(options.baseUrl, undefined, options.sessionOptions);
    this.transport = createGrpcTransport({ baseUrl: options.baseUrl, sessionManager: this.sessions });
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The failure of one interaction, or undefined when the provider keeps it. */
  async verify(contract: Contract, interaction: Interaction): Promise<ContractFailure | undefined> {
    const fail = (problem: string): ContractFailure => ({
      consumer: contract.consumer,
      interaction: interaction.name,
      message: `consumer "${contract.consumer}" interaction "${interaction.name}": ${problem}`,
    });
    try {
      const problem = await this.run(contract.service, interaction);
      return problem === undefined ? undefined : fail(problem);
    } catch (err) {
      // A contract naming an unknown method, or a reference its setup cannot satisfy.
      return fail(err instanceof Error ? err.message : String(err));
    }
  }

  /** Every failure of every interaction, in contract order. */
  async verifyContract(contract: Contract): Promise<ContractFailure[]> {
    const failures: ContractFailure[] = [];
    for (const interaction of contract.interactions) {
      const failure = await this.verify(contract, interaction);
      if (failure !== undefined) {
        failures.push(failure);
      }
    }
    return failures;
  }

  private async run(service: string, interaction: Interaction): Promise<string | undefined> {
    const setupResponses: JsonObject[] = [];
    for (const [i, step] of (interaction.setup ?? []).entries()) {
      const outcome = await this.call(service, step.method, resolve(step.request, setupResponses), step.headers);
      if ("error" in outcome) {
        return `setup call ${i} (${step.method}) failed: ${describeError(outcome.error)}`;
      }
      setupResponses.push(outcome.response);
      if (step.waitMs !== undefined) {
        await sleep(step.waitMs);
      }
    }
    const request = resolve(interaction.request, setupResponses);
    return judge(interaction.expect, await this.call(service, interaction.method, request, interaction.headers));
  }

  close(): void {
    this.sessions.abort();
  }

  private async call(
    service: string,
    methodName: string,
    request: JsonObject,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<Outcome> {
    const method: DescMethodUnary = this.options.registry.method(service, methodName);
    try {
      const message = fromJson(method.input, request);
      const res = await this.transport.unary(method, undefined, this.timeoutMs, new Headers(headers), message);
      return { response: toJson(method.output, res.message, { alwaysEmitImplicit: true }) as JsonObject };
    } catch (err) {
      return { error: ConnectError.from(err) };
    }
  }
}

/** Replays every interaction of `contract` against the provider at `options.baseUrl`. */
export async function verifyContract(contract: Contract, options: ReplayOptions): Promise<ContractFailure[]> {
  const replayer = new ContractReplayer(options);
  try {
    return await replayer.verifyContract(contract);
  } finally {
    replayer.close();
  }
}

function judge(expect: Expectation, outcome: Outcome): string | undefined {
  if (!expect.ok) {
    const wanted = expect.reason === undefined ? expect.code : `${expect.code} ${expect.reason}`;
    if (!("error" in outcome)) {
      return `expected ${wanted}, got ok`;
    }
    const sameCode = codeToString(outcome.error.code) === expect.code;
    const sameReason = expect.reason === undefined || reasonOf(outcome.error) === expect.reason;
    return sameCode && sameReason ? undefined : `expected ${wanted}, got ${describeError(outcome.error)}`;
  }
  if ("error" in outcome) {
    return `expected ok, got ${describeError(outcome.error)}`;
  }
  const problems = Object.entries(expect.fields).flatMap(([path, expected]) => {
    const problem = mismatch(expected, valuesAt(outcome.response, path));
    return problem === undefined ? [] : [`field ${path}: ${problem}`];
  });
  return problems.length === 0 ? undefined : problems.join("; ");
}

function describeError(err: ConnectError): string {
  const reason = reasonOf(err);
  return `${codeToString(err.code)}${reason === undefined ? "" : ` ${reason}`} (${JSON.stringify(err.rawMessage)})`;
}

/** The request with each `{"$from": path}` replaced by the value a setup response holds there. */
function resolve(request: JsonObject, setup: readonly JsonObject[]): JsonObject {
  const visit = (json: JsonValue): JsonValue => {
    if (Array.isArray(json)) {
      return json.map(visit);
    }
    if (json === null || typeof json !== "object") {
      return json;
    }
    const keys = Object.keys(json);
    if (keys.length === 1 && keys[0] === "$from" && typeof json.$from === "string") {
      const [value] = valuesAt({ setup }, json.$from);
      if (value === undefined) {
        throw new Error(`the request refers to ${json.$from}, which the setup responses do not hold`);
      }
      return value as JsonValue;
    }
    return Object.fromEntries(Object.entries(json).map(([key, value]) => [key, visit(value)]));
  };
  return visit(request) as JsonObject;
}
