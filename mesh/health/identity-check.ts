import type { WorkloadCredentials } from "../identity/workload-credentials.js";
import type { ReadinessCheck } from "./readiness.js";

/**
 * Readiness "identity": the process's certificate is still valid. Whoever
 * renews it (make run's supervisor, cert-manager) replaces the files well
 * before it expires; once it has expired without a renewal, every peer
 * refuses this process, and /readyz says so and why.
 */
export function identityCheck(credentials: WorkloadCredentials, now: () => number = Date.now): ReadinessCheck {
  return {
    name: "identity",
    run: () => {
      const { id, notAfter } = credentials.current;
      if (now() >= notAfter.getTime()) {
        return {
          ok: false,
          detail: `certificate of ${id.uri} expired at ${notAfter.toISOString()} and was not renewed (${credentials.files.certFile}): peers refuse this process`,
        };
      }
      return { ok: true, detail: `${id.uri} until ${notAfter.toISOString()}` };
    },
  };
}
