import { writeCredentialFiles } from "./credential-files.js";
import type { IssueOptions, MeshCa } from "./mesh-ca.js";
import type { WorkloadId } from "./spiffe-id.js";

export interface CredentialRenewerOptions {
  readonly ca: MeshCa;
  readonly id: WorkloadId;
  /** Where the workload reads its credentials (MESH_TLS_DIR). */
  readonly dir: string;
  /** Lifetime of each certificate. */
  readonly ttlMs: number;
  /** Told after each issue (the first included), e.g. to signal a process that does not watch files. */
  readonly onIssued?: (notAfter: Date) => void;
  /** Told when an issue failed; it is tried again in a tenth of the lifetime. */
  readonly onError?: (err: unknown) => void;
}

/**
 * Keeps a workload's credential files fresh, as make run's supervisor does
 * for each process: issues them now, then again at half their life (the
 * rule cert-manager and SPIRE follow), each time atomically replacing the
 * files the workload watches. Stop it with `stop()`.
 */
export class CredentialRenewer {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(private readonly options: CredentialRenewerOptions) {}

  /** Issues the first credentials (resolves once they are written) and schedules the renewals. */
  static async start(options: CredentialRenewerOptions): Promise<CredentialRenewer> {
    const renewer = new CredentialRenewer(options);
    await renewer.issue();
    return renewer;
  }

  /** Issues new credentials now (a forced rotation), and reschedules the next at half their life. */
  async issue(extra: IssueOptions = {}): Promise<void> {
    const { ca, id, dir, ttlMs } = this.options;
    clearTimeout(this.timer);
    let delay = ttlMs / 2;
    try {
      const credentials = await ca.issue(id, { ttlMs, ...extra });
      if (this.stopped) {
        return;
      }
      writeCredentialFiles(dir, credentials);
      this.options.onIssued?.(credentials.notAfter);
    } catch (err) {
      this.options.onError?.(err);
      delay = ttlMs / 10;
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.issue(), delay);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
