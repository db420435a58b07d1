import type { DestinationStream } from "pino";
import { pino } from "pino";

/** Bytes gathered before one write(2): about 25 call lines; under sonic-boom's 16 KiB write size. */
const batchBytes = 8192;
/** At most this long between a line and its write when fewer than `batchBytes` follow it. */
const lingerMs = 50;

export interface BatchedDestination extends DestinationStream {
  /** Writes what is gathered now (also done on exit); then calls `done` (pino's logger.flush(cb) passes one). */
  flush(done?: (err?: Error) => void): void;
}

/**
 * Where a process's log lines go by default: stdout, one destination per
 * process, gathered into writes of about 8 KiB, each line written at most
 * 50 ms after it was logged.
 *
 * pino's default destination makes one asynchronous write per line (a
 * thread-pool hop, and a wake-up of whoever reads the pipe): on this project's
 * machines that cost 25-45 µs of CPU per line, more than the rest of a leaf
 * call's mesh overhead together (bench/RESULTS.md, "the log line's write").
 * Gathering lines (sonic-boom's `minLength`, the buffering pino documents for
 * throughput) and writing them synchronously in one write(2) makes it a few
 * µs. The linger timer runs only while lines wait, so an idle process is not
 * woken; on exit (process.exit, an uncaught exception, the end of the event
 * loop) what is gathered is written first. A process killed with SIGKILL
 * loses at most the last 50 ms of lines. When the reader stops reading and
 * the pipe is full, the write waits for it (sonic-boom retries): the process
 * slows down rather than holding an unbounded backlog in memory.
 */
export function batchedStdout(): BatchedDestination {
  stdout ??= batched(1);
  return stdout;
}

/** One per process: every logger writing to stdout shares its batch, its timer and its exit hook. */
let stdout: BatchedDestination | undefined;

function batched(fd: number): BatchedDestination {
  const stream = pino.destination({ dest: fd, sync: true, minLength: batchBytes });
  let timer: NodeJS.Timeout | undefined;
  // After any write, at most one chunk under `batchBytes` waits (sonic-boom
  // writes whenever `minLength` is reached), so one flush() writes it all.
  const onTimer = (): void => {
    timer = undefined;
    stream.flush();
  };
  const flush = (done?: (err?: Error) => void): void => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    stream.flushSync();
    done?.();
  };
  process.on("exit", () => flush());
  return {
    write(line: string): boolean {
      const written = stream.write(line);
      if (timer === undefined) {
        timer = setTimeout(onTimer, lingerMs);
        timer.unref();
      }
      return written;
    },
    flush,
  };
}
