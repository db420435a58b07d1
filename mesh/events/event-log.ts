import type { Logger } from "pino";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import type { EventLogStore, LoggedEvent } from "./event-stores.js";

export type { LoggedEvent };

/**
 * Safety net for appends this process was not told of (another process
 * sharing the database, a notification lost while reconnecting): while
 * anyone waits, the log checks each waited stream's end this often. Appends
 * made here, and on PostgreSQL those of every process, wake waiters at once.
 */
const crossProcessCheckMs = 500;

/**
 * A producer's event log: appends are durable when they return, readers get
 * events in sequence order and wait for new ones without polling the
 * database. One instance per store (see `eventLogOf`), so that every append
 * made through it wakes every waiter in the process.
 */
export class EventLog {
  /** Per stream, each waiter's wake-up and the sequence it has read up to. */
  private readonly waiters = new Map<string, Map<() => void, number>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private unwatch: Promise<(() => Promise<void>) | undefined> | undefined;

  constructor(
    private readonly store: EventLogStore,
    private readonly logger?: Logger,
  ) {}

  /**
   * Appends `envelope` to `stream` unless an event with its id is already
   * there; returns whether it was appended. Durable once it resolves.
   */
  async append(stream: string, envelope: Envelope): Promise<boolean> {
    const appended = await this.store.append(stream, envelope);
    if (appended) {
      this.notify(stream);
    }
    return appended;
  }

  /** Up to `limit` events of `stream` after `afterSequence`, oldest first. */
  read(stream: string, afterSequence: number, limit: number): Promise<LoggedEvent[]> {
    return this.store.read(stream, afterSequence, limit);
  }

  /** The sequence of the stream's last event; 0 when it has none. */
  lastSequence(stream: string): Promise<number> {
    return this.store.lastSequence(stream);
  }

  /**
   * Resolves when `stream` may have events after `afterSequence`: at once if
   * it has, else on the next append, when `signal` aborts, or when the log
   * closes. The caller reads again to see which.
   */
  async waitForAppend(stream: string, afterSequence: number, signal: AbortSignal): Promise<void> {
    this.startWatching();
    if (this.closed || signal.aborted) {
      return;
    }
    // Registered before reading the stream's end, so that an append landing
    // while that read is in flight still wakes this waiter.
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      let waiters = this.waiters.get(stream);
      if (waiters === undefined) {
        waiters = new Map();
        this.waiters.set(stream, waiters);
      }
      wake = (): void => {
        const current = this.waiters.get(stream);
        current?.delete(wake);
        if (current?.size === 0) {
          this.waiters.delete(stream);
        }
        signal.removeEventListener("abort", wake);
        resolve();
      };
      waiters.set(wake, afterSequence);
      signal.addEventListener("abort", wake, { once: true });
      this.startChecking();
    });
    if ((await this.lastSequence(stream)) > afterSequence) {
      wake();
    }
    await woken;
  }

  /** Whether `close` was called: readers should end. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Wakes every waiter and makes waits return at once, so that followers end. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stream of [...this.waiters.keys()]) {
      this.notify(stream);
    }
    clearInterval(this.timer);
    this.timer = undefined;
    const unwatch = await this.unwatch;
    await unwatch?.();
  }

  private notify(stream: string): void {
    const waiters = this.waiters.get(stream);
    if (waiters === undefined) {
      return;
    }
    this.waiters.delete(stream);
    for (const wake of waiters.keys()) {
      wake();
    }
  }

  /** Hears other processes' appends where the store can (PostgreSQL), from the first wait on. */
  private startWatching(): void {
    if (this.unwatch !== undefined || this.store.watchAppends === undefined || this.closed) {
      return;
    }
    this.unwatch = this.store.watchAppends((stream) => this.notify(stream)).catch((err: unknown) => {
      this.logger?.warn({ err }, "cannot listen for event log appends; polling every 500 ms");
      return undefined;
    });
  }

  private startChecking(): void {
    if (this.timer !== undefined || this.closed) {
      return;
    }
    this.timer = setInterval(() => {
      if (this.waiters.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      for (const [stream, waiters] of [...this.waiters]) {
        this.lastSequence(stream).then(
          (last) => {
            for (const [wake, afterSequence] of [...waiters]) {
              if (last > afterSequence) {
                wake();
              }
            }
          },
          (err: unknown) => this.logger?.debug({ err, stream }, "event log check failed"),
        );
      }
    }, crossProcessCheckMs);
    this.timer.unref();
  }
}

const logs = new WeakMap<EventLogStore, EventLog>();

/** The event log over `store`, one per store in a process. */
export function eventLogOf(store: EventLogStore, logger?: Logger): EventLog {
  let log = logs.get(store);
  if (log === undefined || log.isClosed) {
    log = new EventLog(store, logger);
    logs.set(store, log);
  }
  return log;
}
