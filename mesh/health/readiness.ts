/** What one readiness check found. */
export interface CheckResult {
  readonly ok: boolean;
  /** Why it failed, or a short note of what was seen; for operators, never secret. */
  readonly detail?: string;
}

/**
 * One named condition a process needs before it should receive traffic.
 * `run` is called on every probe, so it stays cheap and synchronous; a check
 * that throws has failed, with the error's message as the detail.
 */
export interface ReadinessCheck {
  /** The key in the report, e.g. "store" or "breakers:payments". */
  readonly name: string;
  run(): CheckResult;
}

/** The answer of GET /readyz, as JSON. */
export interface ReadinessReport {
  readonly status: "ready" | "not_ready";
  /** The names of the checks that failed, in check order; absent when ready. */
  readonly failed?: readonly string[];
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** Runs every check (all of them, so the report shows each) and sums them up. */
export function evaluateReadiness(checks: readonly ReadinessCheck[]): ReadinessReport {
  const results: Record<string, CheckResult> = {};
  const failed: string[] = [];
  for (const check of checks) {
    let result: CheckResult;
    try {
      result = check.run();
    } catch (err) {
      result = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
    results[check.name] = result;
    if (!result.ok) {
      failed.push(check.name);
    }
  }
  return failed.length === 0 ? { status: "ready", checks: results } : { status: "not_ready", failed, checks: results };
}
