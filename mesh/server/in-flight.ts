import type { ServerInterceptor } from "./unary-call.js";

/**
 * Counts unary calls in flight so that shutdown can wait for them. Streaming
 * calls (health Watch, reflection) are not counted: they end when the server
 * does.
 */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  readonly interceptor: ServerInterceptor = (next) => async (request, context) => {
    this.count++;
    try {
      return await next(request, context);
    } finally {
      if (--this.count === 0) {
        this.waiters.splice(0).forEach((wake) => wake());
      }
    }
  };

  /** Resolves when no call is in flight, or after `timeoutMs`, whichever is first. */
  idle(timeoutMs: number): Promise<void> {
    if (this.count === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
