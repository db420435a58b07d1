import { Code, ConnectError } from "@connectrpc/connect";
import { failure } from "../errors.js";
import type { FaultPlan } from "./fault-injector.js";

/** The ErrorInfo reason of every injected abort, so no one takes it for a real failure. */
export const faultInjectedReason = "FAULT_INJECTED";

/** How the call being faulted ends early, and who hears of its faults. */
export interface FaultRun {
  /** The call's cancellation. */
  readonly signal: AbortSignal;
  /** Time left before the call's deadline, in ms; undefined if it has none. */
  readonly remainingMs: number | undefined;
  /** Told when the delay starts. */
  readonly onDelay: (delayMs: number) => void;
  /** Told just before the abort is thrown. */
  readonly onAbort: (code: Code) => void;
}

/**
 * Carries out a call's faults before the call goes on: holds it for the
 * delay, then throws the abort. A delay longer than the call's deadline ends
 * at the deadline with DeadlineExceeded, as a slow server would; a cancelled
 * call stops waiting at once. Aborts carry the FAULT_INJECTED reason and say
 * so in their message.
 */
export async function runFaultPlan(plan: FaultPlan, run: FaultRun): Promise<void> {
  try {
    if (plan.delayMs !== undefined) {
      run.onDelay(plan.delayMs);
      await hold(plan.delayMs, run.signal, run.remainingMs);
    }
    if (plan.abort !== undefined) {
      run.onAbort(plan.abort);
      throw failure(plan.abort, faultInjectedReason, `fault injected: ${Code[plan.abort]}`);
    }
  } finally {
    plan.release();
  }
}

function hold(delayMs: number, signal: AbortSignal, remainingMs: number | undefined): Promise<void> {
  const cut = remainingMs !== undefined && remainingMs < delayMs;
  const waitMs = cut ? Math.max(0, remainingMs) : delayMs;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(ConnectError.from(signal.reason ?? new ConnectError("call cancelled", Code.Canceled)));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason ?? new ConnectError("call cancelled", Code.Canceled)));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      if (cut) {
        reject(new ConnectError(`deadline exceeded while a fault delayed the call by ${delayMs} ms`, Code.DeadlineExceeded));
      } else {
        resolve();
      }
    }, waitMs);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
