import { Code } from "@connectrpc/connect";
import { EventEmitter } from "node:events";
import {
  Direction,
  FractionalPercent_DenominatorType as Denominator,
  type FaultConfig,
  type FaultRule,
  type FractionalPercent,
} from "../../gen/meshwork/faults/v1/faults_pb.js";
import { emptyFaultConfig, faultConfigProblems } from "./fault-config.js";

/** Which chain a call is in: served by this process, or made by it. */
export type FaultDirection = "inbound" | "outbound";

/** What a rule can match a call on. */
export interface FaultedCall {
  readonly direction: FaultDirection;
  /** The service's full name, e.g. "meshwork.payments.v1.PaymentService". */
  readonly service: string;
  /** The method's name, e.g. "AuthorizePayment". */
  readonly method: string;
  /** Outbound: the target's name in the client factory. */
  readonly target?: string;
  /** Inbound: the caller's identity (mesh identity, else its address). */
  readonly caller?: string | undefined;
  /** Inbound: one request header by lower-case name, for header-controlled faults. */
  readonly header?: (name: string) => string | undefined;
}

/** The faults decided for one call. */
export interface FaultPlan {
  /** Hold the call this long first (ms), if set. */
  readonly delayMs: number | undefined;
  /** Then fail it with this code, if set. */
  readonly abort: Code | undefined;
  /** Ends the call's active fault (max_active_faults); call once, when the fault is over. */
  release(): void;
}

/** One fault injected into one call: what metrics count and spans show. */
export interface InjectedFault {
  readonly direction: FaultDirection;
  /** Outbound: the target; inbound: "". */
  readonly target: string;
  readonly service: string;
  readonly method: string;
  readonly fault: "delay" | "abort";
  /** The delay, for "delay". */
  readonly delayMs?: number;
  /** The code, for "abort". */
  readonly code?: Code;
}

export interface FaultInjectorEvents {
  /** A fault was injected (a delay as it starts, an abort as it is thrown). */
  injected: [InjectedFault];
  /** The configuration was replaced. */
  changed: [FaultConfig];
}

export interface FaultInjectorOptions {
  /** The configuration to start with. Default: none (nothing injected until `set`). */
  readonly config?: FaultConfig;
  /** Uniform in [0, 1); tests pass a seeded one. Default: Math.random. */
  readonly random?: () => number;
}

/**
 * The fault rules of one process, shared by its server chain (`faultServer`)
 * and its client chain (`faultClient`), and replaced whole at run time by
 * FaultService. With no rules, interceptors check one boolean per call.
 *
 * Semantics are those of Envoy's HTTP fault filter: the first rule that
 * matches a call decides; its delay and its abort are each drawn against
 * their own percentage (the delay first, then the abort); header-controlled
 * faults read Envoy's x-envoy-fault-* request headers, their percentage
 * header capped by the rule's; max_active_faults bounds the calls a rule is
 * faulting at once.
 */
export class FaultInjector {
  readonly events = new EventEmitter<FaultInjectorEvents>();
  private current: FaultConfig;
  private rules: CompiledRule[] = [];
  private readonly random: () => number;

  constructor(options: FaultInjectorOptions = {}) {
    this.random = options.random ?? Math.random;
    this.current = emptyFaultConfig();
    this.set(options.config ?? emptyFaultConfig());
  }

  /** Whether any rule is in force: false means no call is ever faulted. */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** The configuration in force. */
  get config(): FaultConfig {
    return this.current;
  }

  /**
   * Replaces the configuration whole. Throws (and changes nothing) when
   * `faultConfigProblems` finds any. Calls already delayed keep their delay;
   * the per-rule counts of active faults start again from zero.
   */
  set(config: FaultConfig): void {
    const problems = faultConfigProblems(config);
    if (problems.length > 0) {
      throw new Error(problems.join("; "));
    }
    this.rules = config.faults.map(compile);
    this.current = config;
    this.events.emit("changed", config);
  }

  /** The faults for a call, or undefined to let it through untouched. */
  plan(call: FaultedCall): FaultPlan | undefined {
    if (this.rules.length === 0) {
      return undefined;
    }
    const rule = this.rules.find((r) => matches(r, call));
    if (rule === undefined || (rule.maxActive !== undefined && rule.activeFaults >= rule.maxActive)) {
      return undefined;
    }
    const delayMs = rule.delay === undefined ? undefined : this.drawDelay(rule.delay, call);
    const abort = rule.abort === undefined ? undefined : this.drawAbort(rule.abort, call);
    if (delayMs === undefined && abort === undefined) {
      return undefined;
    }
    rule.activeFaults++;
    let released = false;
    return {
      delayMs,
      abort,
      release: () => {
        if (!released) {
          released = true;
          rule.activeFaults--;
        }
      },
    };
  }

  /** Reports a fault as injected, to whoever listens (metrics, logs). */
  report(fault: InjectedFault): void {
    this.events.emit("injected", fault);
  }

  private drawDelay(delay: CompiledDelay, call: FaultedCall): number | undefined {
    let ms = delay.fixedMs;
    let numerator = delay.share.numerator;
    if (ms === undefined) {
      ms = headerInt(call, "x-envoy-fault-delay-request", 1, maxHeaderDelayMs);
      numerator = cappedShare(call, "x-envoy-fault-delay-request-percentage", numerator);
    }
    return ms !== undefined && this.random() * delay.share.denominator < numerator ? ms : undefined;
  }

  private drawAbort(abort: CompiledAbort, call: FaultedCall): Code | undefined {
    let code = abort.code;
    let numerator = abort.share.numerator;
    if (code === undefined) {
      // As in Envoy: an HTTP status header wins over a gRPC status header.
      const http = headerInt(call, "x-envoy-fault-abort-request", 200, 599);
      code = http !== undefined ? grpcCodeOfHttpStatus(http) : headerInt(call, "x-envoy-fault-abort-grpc-request", 1, 16);
      numerator = cappedShare(call, "x-envoy-fault-abort-request-percentage", numerator);
    }
    return code !== undefined && this.random() * abort.share.denominator < numerator ? (code) : undefined;
  }
}

/** The longest delay a caller's header may ask for: one hour, as fixed delays. */
const maxHeaderDelayMs = 3_600_000;

/**
 * Services a rule with no service does not touch: probes and tools call
 * health and reflection all the time, and FaultService must stay reachable
 * to take faults away. Health is faulted when a rule names it; FaultService
 * never.
 */
function untouchedByDefault(service: string): boolean {
  return service.startsWith("grpc.health.") || service.startsWith("grpc.reflection.") || service === faultServiceName;
}

const faultServiceName = "meshwork.faults.v1.FaultService";

interface Share {
  readonly numerator: number;
  readonly denominator: number;
}

interface CompiledDelay {
  /** Undefined: from the caller's header. */
  readonly fixedMs: number | undefined;
  readonly share: Share;
}

interface CompiledAbort {
  /** Undefined: from the caller's header. */
  readonly code: Code | undefined;
  readonly share: Share;
}

interface CompiledRule {
  readonly direction: FaultDirection;
  readonly service: string;
  readonly method: string;
  readonly target: string;
  readonly callers: ReadonlySet<string>;
  readonly delay: CompiledDelay | undefined;
  readonly abort: CompiledAbort | undefined;
  readonly maxActive: number | undefined;
  activeFaults: number;
}

function compile(rule: FaultRule): CompiledRule {
  const { delay, abort } = rule;
  return {
    direction: rule.direction === Direction.OUTBOUND ? "outbound" : "inbound",
    service: rule.service,
    method: rule.method,
    target: rule.upstreamCluster,
    callers: new Set(rule.downstreamNodes),
    delay:
      delay === undefined
        ? undefined
        : {
            fixedMs: delay.delayType.case === "fixedDelay" ? durationMs(delay.delayType.value) : undefined,
            share: shareOf(delay.percentage),
          },
    abort:
      abort === undefined
        ? undefined
        : {
            code:
              abort.errorType.case === "grpcStatus"
                ? (abort.errorType.value)
                : abort.errorType.case === "httpStatus"
                  ? grpcCodeOfHttpStatus(abort.errorType.value)
                  : undefined,
            share: shareOf(abort.percentage),
          },
    maxActive: rule.maxActiveFaults,
    activeFaults: 0,
  };
}

function matches(rule: CompiledRule, call: FaultedCall): boolean {
  if (rule.direction !== call.direction || call.service === faultServiceName) {
    return false;
  }
  if (rule.service === "" ? untouchedByDefault(call.service) : rule.service !== call.service) {
    return false;
  }
  if (rule.method !== "" && rule.method !== call.method) {
    return false;
  }
  if (rule.target !== "" && rule.target !== call.target) {
    return false;
  }
  return rule.callers.size === 0 || (call.caller !== undefined && rule.callers.has(call.caller));
}

const denominators: Record<Denominator, number> = {
  [Denominator.UNSPECIFIED]: 100,
  [Denominator.HUNDRED]: 100,
  [Denominator.TEN_THOUSAND]: 10_000,
  [Denominator.MILLION]: 1_000_000,
};

function shareOf(percentage: FractionalPercent | undefined): Share {
  return { numerator: percentage?.numerator ?? 0, denominator: denominators[percentage?.denominator ?? Denominator.UNSPECIFIED] };
}

function durationMs(duration: { seconds: bigint; nanos: number }): number {
  return Number(duration.seconds) * 1000 + duration.nanos / 1e6;
}

/** A header's value as an integer within [min, max], else undefined (absent or malformed: no fault, as Envoy). */
function headerInt(call: FaultedCall, name: string, min: number, max: number): number | undefined {
  const raw = call.header?.(name);
  if (raw === undefined || !/^\d{1,10}$/.test(raw.trim())) {
    return undefined;
  }
  const value = Number(raw.trim());
  return value >= min && value <= max ? value : undefined;
}

/** The percentage header's numerator, capped by the rule's; the rule's when the header is absent or malformed. */
function cappedShare(call: FaultedCall, name: string, ruleNumerator: number): number {
  const asked = headerInt(call, name, 0, Number.MAX_SAFE_INTEGER);
  return asked === undefined ? ruleNumerator : Math.min(asked, ruleNumerator);
}

/**
 * gRPC's mapping of an HTTP status from a proxy to a code
 * (grpc/doc/http-grpc-status-mapping.md): what a gRPC client reports when
 * Envoy aborts a call with `http_status`.
 */
export function grpcCodeOfHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}
