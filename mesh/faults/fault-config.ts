import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { readFileSync } from "node:fs";
import { Direction, FaultConfigSchema, type FaultConfig } from "../../gen/meshwork/faults/v1/faults_pb.js";

/**
 * A fault configuration from a setting such as MESH_FAULTS: inline JSON when
 * it starts with "{", else the path of a JSON file. The JSON is a
 * meshwork.faults.v1.FaultConfig in proto JSON (field names in snake_case as
 * Envoy writes them, or lowerCamel; durations as "0.2s"), e.g.
 *
 *   {"faults": [{"service": "meshwork.payments.v1.PaymentService", "method": "AuthorizePayment",
 *                "delay": {"fixed_delay": "0.2s", "percentage": {"numerator": 50}}}]}
 *
 * Throws, naming `source` and the problem, on anything it would not apply as
 * written: unknown fields, rules the contract's protovalidate rules refuse,
 * and rules that contradict themselves (see `faultConfigProblems`).
 */
export function faultConfigFromSetting(value: string, source: string): FaultConfig {
  const trimmed = value.trim();
  if (trimmed.startsWith("{")) {
    return parseFaultConfig(trimmed, source);
  }
  let text: string;
  try {
    text = readFileSync(trimmed, "utf8");
  } catch (err) {
    throw new Error(`${source}: cannot read ${trimmed}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return parseFaultConfig(text, `${source} (${trimmed})`);
}

/** A fault configuration from its JSON text; throws naming `source` as `faultConfigFromSetting` does. */
export function parseFaultConfig(text: string, source: string): FaultConfig {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new Error(`${source}: not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let config: FaultConfig;
  try {
    config = fromJson(FaultConfigSchema, withEnvoyDenominators(json));
  } catch (err) {
    throw new Error(`${source}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const problems = faultConfigProblems(config);
  if (problems.length > 0) {
    throw new Error(`${source}: ${problems.join("; ")}`);
  }
  return config;
}

/** An empty configuration: injection on standby, nothing injected. */
export function emptyFaultConfig(): FaultConfig {
  return create(FaultConfigSchema);
}

const validator = createValidator();

/**
 * What is wrong with a configuration, one sentence each (none: it can be
 * applied): the contract's protovalidate rules, then what they cannot say —
 * each rule needs a delay or an abort, each of those a kind (fixed or from
 * headers), inbound-only and outbound-only fields on the wrong direction, and
 * header-controlled faults without the callers allowed to use them.
 */
export function faultConfigProblems(config: FaultConfig): string[] {
  const result = validator.validate(FaultConfigSchema, config);
  if (result.kind === "invalid") {
    return result.violations.map((v) => v.toString());
  }
  if (result.kind === "error") {
    return [`cannot be validated: ${result.error.message}`];
  }
  const problems: string[] = [];
  config.faults.forEach((rule, i) => {
    const at = `faults[${i}]`;
    const outbound = rule.direction === Direction.OUTBOUND;
    if (rule.delay === undefined && rule.abort === undefined) {
      problems.push(`${at}: a rule needs a delay, an abort or both`);
    }
    if (rule.delay !== undefined && rule.delay.delayType.case === undefined) {
      problems.push(`${at}.delay: one of fixed_delay or header_delay is required`);
    }
    if (rule.abort !== undefined && rule.abort.errorType.case === undefined) {
      problems.push(`${at}.abort: one of grpc_status, http_status or header_abort is required`);
    }
    const fromHeaders = rule.delay?.delayType.case === "headerDelay" || rule.abort?.errorType.case === "headerAbort";
    if (outbound && rule.downstreamNodes.length > 0) {
      problems.push(`${at}: downstream_nodes applies to inbound rules only (the callers of this process)`);
    }
    if (!outbound && rule.upstreamCluster !== "") {
      problems.push(`${at}: upstream_cluster applies to outbound rules only (the targets this process calls)`);
    }
    if (fromHeaders && outbound) {
      problems.push(`${at}: header_delay and header_abort apply to inbound rules only, where the caller is known`);
    }
    if (fromHeaders && !outbound && rule.downstreamNodes.length === 0) {
      problems.push(`${at}: header_delay and header_abort need downstream_nodes, the callers allowed to ask for faults`);
    }
  });
  return problems;
}

/** Envoy's denominator names ("HUNDRED") as this contract's enum names ("DENOMINATOR_TYPE_HUNDRED"). */
function withEnvoyDenominators(json: JsonValue): JsonValue {
  if (Array.isArray(json)) {
    return json.map(withEnvoyDenominators);
  }
  if (json === null || typeof json !== "object") {
    return json;
  }
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(json)) {
    out[key] =
      key === "denominator" && typeof value === "string" && envoyDenominators.has(value)
        ? `DENOMINATOR_TYPE_${value}`
        : withEnvoyDenominators(value);
  }
  return out;
}

const envoyDenominators: ReadonlySet<string> = new Set(["HUNDRED", "TEN_THOUSAND", "MILLION"]);
