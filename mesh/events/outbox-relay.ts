import type { Logger } from "pino";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { backoffDelay, sleep, type BackoffOptions } from "./backoff.js";
import type { EventBus } from "./event-bus.js";
import type { OutboxRow, OutboxStore } from "./event-stores.js";

export interface OutboxRelayOptions {
  /** The producing service's outbox (its store's `events.outbox`). */
  readonly outbox: OutboxStore;
  readonly bus: EventBus;
  readonly logger: Logger;
  /**
   * How often the relay looks for rows without being woken: a safety net for
   * a missed `wake()` or rows written by another process (a replica).
   * Default: 200 ms.
   */
  readonly pollMs?: number;
  /**
   * Backoff between tries of a row whose publish failed (the bus is down).
   * Default: 100 ms doubling up to 5 s — short enough to catch up soon after
   * the bus returns, long enough not to flood its logs meanwhile.
   */
  readonly backoff?: BackoffOptions;
  /** Told of every event once the bus has acknowledged it (metrics, tests). */
  readonly onPublished?: (stream: string, envelope: Envelope) => void;
  /**
   * Test only: the relay SIGKILLs its own process just before it publishes
   * its first row, i.e. after the row's transaction committed and before the
   * bus saw the event, to prove that a crash there loses nothing. Set by test
   * wiring (the orders main sets it from OUTBOX_TEST_CRASH=before-publish,
   * with a warning); never from the environment here. Default: false.
   */
  readonly testCrashBeforeFirstPublish?: boolean;
}

export interface OutboxRelay {
  /** Publish what is pending now; call it after committing outbox rows. */
  wake(): void;
  /** Stops after the publish in flight, if any, has settled. */
  stop(): Promise<void>;
  /** How many rows are not published yet. */
  pending(): Promise<number>;
}

/**
 * How many rows the relay reads at a time and marks published in one
 * transaction: a commit per batch instead of one per event (commits are most
 * of a producer's cost per event), while a crash re-publishes at most this
 * many already acknowledged events, which the bus drops as duplicates.
 */
const batchSize = 64;

/**
 * Publishes the outbox's rows to the bus, each batch in `seq` order and one
 * at a time, so events of an aggregate arrive in the order they were written
 * (the outbox store hands out batches so that this holds across relays of
 * several replicas too). A row is marked published only after the bus
 * acknowledged it (the rows of a batch together, once each was
 * acknowledged): a crash before that publishes it again on restart (the bus
 * deduplicates on the envelope id, consumers on their inbox), so nothing is
 * lost. A failed publish is retried, same row first, with capped exponential
 * backoff, after marking the rows before it.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { outbox, bus, logger, onPublished } = options;
  const pollMs = options.pollMs ?? 200;
  const backoff = options.backoff ?? { initialMs: 100, maxMs: 5_000 };
  let crashArmed = options.testCrashBeforeFirstPublish === true;
  const stopping = new AbortController();
  let draining: Promise<void> | undefined;
  let again = false;

  /** Publishes `rows` in order until one fails or the relay stops; returns those the bus acknowledged. */
  const publish = async (rows: readonly OutboxRow[]): Promise<{ acknowledged: OutboxRow[]; failed?: { row: OutboxRow; err: unknown } }> => {
    const acknowledged: OutboxRow[] = [];
    for (const row of rows) {
      if (stopping.signal.aborted) {
        break;
      }
      if (crashArmed) {
        crashArmed = false;
        process.kill(process.pid, "SIGKILL");
      }
      try {
        await bus.publish(row.stream, row.envelope);
      } catch (err) {
        return { acknowledged, failed: { row, err } };
      }
      acknowledged.push(row);
    }
    return { acknowledged };
  };

  const drain = async (): Promise<void> => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      let failed: { row: OutboxRow; err: unknown } | undefined;
      let published: readonly OutboxRow[] = [];
      const taken = await outbox.relayBatch(batchSize, async (rows) => {
        const outcome = await publish(rows);
        failed = outcome.failed;
        published = outcome.acknowledged;
        return outcome.acknowledged;
      });
      if (taken === 0) {
        return;
      }
      if (published.length > 0) {
        failures = 0;
        for (const row of published) {
          onPublished?.(row.stream, row.envelope);
        }
      }
      if (failed !== undefined) {
        failures += 1;
        const delayMs = backoffDelay(backoff, failures);
        logger.warn(
          { err: failed.err, eventId: failed.row.envelope.id, stream: failed.row.stream, failures, delayMs },
          "outbox publish failed; retrying",
        );
        await sleep(delayMs, stopping.signal);
      }
    }
  };

  const wake = (): void => {
    if (stopping.signal.aborted) {
      return;
    }
    if (draining !== undefined) {
      again = true;
      return;
    }
    draining = drain()
      .catch((err: unknown) => logger.error({ err }, "outbox relay failed; retrying at the next poll"))
      .finally(() => {
        draining = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  };

  const timer = setInterval(wake, pollMs);
  timer.unref();
  wake();

  return {
    wake,
    pending: () => outbox.countUnpublished(),
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await draining;
    },
  };
}
