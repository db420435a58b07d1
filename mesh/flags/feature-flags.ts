import { FlagdProvider } from "@openfeature/flagd-provider";
import { OpenFeature, type EvaluationDetails, type FlagValue, type Hook, type HookContext } from "@openfeature/server-sdk";
import { trace } from "@opentelemetry/api";
import type { Logger } from "pino";
import { currentInboundCall } from "../context/inbound-call.js";
import { activeContext } from "../telemetry/active-context.js";

/**
 * Who a flag is evaluated for: the customer is the targeting key, so a
 * rollout sticks per customer. The request id defaults to the inbound call's.
 */
export interface FlagContext {
  readonly customerId: string;
  readonly requestId?: string;
}

/** A process's feature flags, evaluated with the caller's context. */
export interface FeatureFlags {
  /** The flag's value for this caller; `fallback` when the flag is unknown, off, or the file unreadable. */
  boolean(key: string, fallback: boolean, context: FlagContext): Promise<boolean>;
  /** Stops watching the file. */
  close(): Promise<void>;
}

export interface FeatureFlagsOptions {
  /**
   * A flag definition file in flagd's format (https://flagd.dev/reference/flag-definitions/):
   * variants, a default variant, and targeting rules such as `fractional`
   * for a percentage rollout by customer. Reloaded when it changes (the
   * provider polls it every 5 s), without a restart.
   */
  readonly file: string;
  /** OpenFeature's domain for this set of flags, e.g. the service's name. */
  readonly domain: string;
  readonly logger: Logger;
}

/**
 * Feature flags through OpenFeature's server SDK with flagd's in-process
 * provider reading a local file (its offline mode): no flagd server, the
 * same evaluation rules (fractional rollouts hash flag key + targeting key,
 * so one customer always lands on one side). Each evaluation is an event on
 * the active span, as the OpenTelemetry feature-flag semantic conventions
 * describe (`feature_flag.key`, `feature_flag.result.variant`, ...), so a
 * trace says which code path a request took.
 */
export async function fileFeatureFlags(options: FeatureFlagsOptions): Promise<FeatureFlags> {
  const provider = new FlagdProvider({ resolverType: "in-process", offlineFlagSourcePath: options.file });
  await OpenFeature.setProviderAndWait(options.domain, provider);
  const client = OpenFeature.getClient(options.domain);
  client.addHooks(spanEventHook(provider.metadata.name));
  options.logger.info({ file: options.file }, "feature flags loaded");
  return {
    boolean(key, fallback, context) {
      const requestId = context.requestId ?? currentInboundCall()?.requestId;
      return client.getBooleanValue(key, fallback, {
        targetingKey: context.customerId,
        ...(requestId === undefined ? {} : { requestId }),
      });
    },
    close: () => provider.onClose(),
  };
}

/** Flags that are always their fallback: a process started without a flags file. */
export const noFeatureFlags: FeatureFlags = {
  boolean: (_key, fallback) => Promise.resolve(fallback),
  close: () => Promise.resolve(),
};

function spanEventHook(providerName: string): Hook {
  return {
    after(hookContext: HookContext, details: EvaluationDetails<FlagValue>) {
      record(hookContext, details, providerName);
    },
    error(hookContext: HookContext) {
      record(hookContext, undefined, providerName);
    },
  };
}

function record(hookContext: HookContext, details: EvaluationDetails<FlagValue> | undefined, providerName: string): void {
  const ctx = activeContext();
  const span = ctx === undefined ? undefined : trace.getSpan(ctx);
  if (span === undefined || !span.isRecording()) {
    return;
  }
  span.addEvent("feature_flag.evaluation", {
    "feature_flag.key": hookContext.flagKey,
    "feature_flag.provider.name": providerName,
    ...(details?.variant === undefined ? {} : { "feature_flag.result.variant": details.variant }),
    ...(details === undefined ? { "error.type": "evaluation_error" } : { "feature_flag.result.reason": String(details.reason ?? "").toLowerCase() }),
  });
}
