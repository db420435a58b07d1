import type { Charge } from "./model.js";

/**
 * The card network as the payments domain sees it. `authorize` resolves when
 * the charge is approved and rejects with a ConnectError otherwise: a decline
 * is FailedPrecondition with a reason, an outage Unavailable. When `signal`
 * aborts, it stops waiting and rejects, and the charge must count as not
 * authorized.
 */
export interface CardProcessor {
  authorize(charge: Charge, signal?: AbortSignal): Promise<void>;
}
