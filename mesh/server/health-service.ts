import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/**
 * The serving status of a process and of each service in it, as grpc.health.v1
 * reports it. The empty name is the process as a whole. Watchers hear every
 * change; a status set to its current value is not a change.
 */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<(service: string, status: ServingStatus) => void>();
  private isClosed = false;

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) {
      return;
    }
    this.statuses.set(service, status);
    for (const watcher of this.watchers) {
      watcher(service, status);
    }
  }

  /** Sets every known service, and the process, to one status. */
  setAll(status: ServingStatus): void {
    for (const service of [...this.statuses.keys()]) {
      this.set(service, status);
    }
  }

  /**
   * Sets every status to `status` for the last time and ends every Watch
   * stream once it has sent it: the process is going away.
   */
  close(status: ServingStatus): void {
    this.setAll(status);
    this.isClosed = true;
    for (const watcher of this.watchers) {
      watcher("", status);
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Every service's status, the process's under the empty name. */
  entries(): [string, ServingStatus][] {
    return [...this.statuses.entries()];
  }

  watch(listener: (service: string, status: ServingStatus) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }
}

/**
 * grpc.health.v1.Health over a HealthStatus. Check of an unknown service is
 * NotFound (as the spec asks); Watch of one streams SERVICE_UNKNOWN and keeps
 * the stream open, so a watcher sees the service once it is registered.
 */
export function createHealthService(health: HealthStatus): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = health.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      }
      return { status };
    },
    list() {
      return {
        statuses: Object.fromEntries(health.entries().map(([service, status]) => [service, { status }])),
      };
    },
    async *watch(request, context) {
      const pending: ServingStatus[] = [health.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN];
      let wake: (() => void) | undefined;
      const unwatch = health.watch((service, status) => {
        if (service === request.service && !health.closed) {
          pending.push(status);
        }
        wake?.();
      });
      const onAbort = (): void => wake?.();
      context.signal.addEventListener("abort", onAbort);
      try {
        while (!context.signal.aborted) {
          const status = pending.shift();
          if (status !== undefined) {
            yield { status };
            continue;
          }
          if (health.closed) {
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        unwatch();
        context.signal.removeEventListener("abort", onAbort);
      }
    },
  };
}
