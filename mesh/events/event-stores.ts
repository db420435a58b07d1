import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";

// What mesh/events keeps in a service's own database, as ports with one
// implementation per engine (sqlite/ and postgres/, same file names). A
// service's store opens them on its connection and hands them to the relay,
// the embedded bus and the consumer.

/** One unpublished outbox row. */
export interface OutboxRow {
  /** The publishing order: increasing, never reused. */
  readonly seq: number;
  readonly stream: string;
  readonly envelope: Envelope;
}

/** The outbox as the relay sees it. Rows are written by the service's transactions (appendToOutbox). */
export interface OutboxStore {
  /**
   * Takes up to `limit` unpublished rows that no other relay holds, oldest
   * first, hands them to `publish` and marks published those it resolves
   * with (a prefix of the rows, in order), all before any other relay can
   * take them. Rows of one subject (aggregate) are never in two batches at
   * once, and a later row of a subject never goes out before an earlier one
   * is marked. Resolves with how many rows were taken (0: nothing to do).
   */
  relayBatch(limit: number, publish: (rows: readonly OutboxRow[]) => Promise<readonly OutboxRow[]>): Promise<number>;
  /** How many rows are not published yet. */
  countUnpublished(): Promise<number>;
}

/** One event of an embedded event log and its place in its stream. */
export interface LoggedEvent {
  readonly sequence: number;
  readonly envelope: Envelope;
}

/** The embedded bus's durable log of a producer's streams. */
export interface EventLogStore {
  /**
   * Appends `envelope` to `stream` with the next sequence (streams number
   * their events from 1 without gaps, in commit order) unless an event with
   * its id is there already; resolves with whether it was appended, once
   * durable.
   */
  append(stream: string, envelope: Envelope): Promise<boolean>;
  /** Up to `limit` events of `stream` after `afterSequence`, oldest first. */
  read(stream: string, afterSequence: number, limit: number): Promise<LoggedEvent[]>;
  /** The sequence of the stream's last event; 0 when it has none. */
  lastSequence(stream: string): Promise<number>;
  /**
   * Calls `listener` with the stream whenever any process appends to the log
   * (PostgreSQL: LISTEN/NOTIFY); resolves with a function that stops it.
   * Absent where appends cannot be heard (SQLite: readers poll for other
   * processes' appends).
   */
  watchAppends?(listener: (stream: string) => void): Promise<() => Promise<void>>;
}

/** Where an embedded consumer has got to in each stream: the sequence of the last event it handled. */
export interface ConsumerPositionStore {
  get(stream: string, durable: string): Promise<number>;
  set(stream: string, durable: string, sequence: number): Promise<void>;
}

/** What became of an event given to `handleOnce`. */
export type HandleOutcome = "handled" | "duplicate" | "dead-lettered";

/** A dead-lettered event as stored. */
export interface StoredDeadLetter {
  readonly consumer: string;
  readonly envelope: Envelope;
  readonly attempts: number;
  readonly lastError: string;
  /** Epoch ms. */
  readonly deadAt: number;
}

/** What became of a replayed dead letter. */
export type ReplayOutcome =
  | { readonly handled: true }
  | { readonly handled: false; readonly error: string }
  | { readonly handled: false; readonly notFound: true };

/**
 * A consumer's inbox (ids of the events it handled) and dead letters, in the
 * consuming service's database. `Tx` is the service's own view of one
 * transaction, given to handlers so that their effects commit with the
 * event's inbox row.
 */
export interface InboxStore<Tx> {
  /**
   * Applies `apply` and records the event in the inbox in one transaction:
   * both or neither. An event already in the inbox (a redelivery) or in the
   * dead letters (an operator's to replay) is left alone. Rejects with what
   * `apply` threw, after rolling back.
   */
  handleOnce(consumer: string, envelope: Envelope, apply: (tx: Tx) => Promise<void>): Promise<HandleOutcome>;
  /** Records that `consumer` gave up on the event after `attempts` tries. */
  recordDeadLetter(consumer: string, envelope: Envelope, attempts: number, lastError: string): Promise<void>;
  /** Dead letters, oldest first, of one consumer or ("") of all. */
  listDeadLetters(consumer: string, limit: number): Promise<StoredDeadLetter[]>;
  /**
   * Replays a dead letter: in one transaction `apply` runs on its envelope,
   * the event goes into the inbox and the dead letter away. An event the
   * inbox already has only loses its dead letter. When `apply` throws, its
   * work is rolled back and the dead letter stays with one more attempt and
   * the new error.
   */
  replayDeadLetter(consumer: string, eventId: string, apply: (envelope: Envelope, tx: Tx) => Promise<void>): Promise<ReplayOutcome>;
}

/** Every events port of one service database. */
export interface EventStores<Tx = unknown> {
  readonly outbox: OutboxStore;
  readonly eventLog: EventLogStore;
  readonly positions: ConsumerPositionStore;
  readonly inbox: InboxStore<Tx>;
}
