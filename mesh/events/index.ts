// Events: the envelope, the transactional outbox and its relay, the two
// buses behind one interface, and idempotent consumers with dead letters;
// their tables on SQLite (sqlite/) and on PostgreSQL (postgres/).
export type { Delivery, EventBus, SubscribeOptions, Subscription } from "./event-bus.js";
export { createEnvelope, unpackEnvelope } from "./envelope.js";
export type { EnvelopeOptions } from "./envelope.js";
export type {
  ConsumerPositionStore,
  EventLogStore,
  EventStores,
  HandleOutcome,
  InboxStore,
  LoggedEvent,
  OutboxRow,
  OutboxStore,
  ReplayOutcome,
  StoredDeadLetter,
} from "./event-stores.js";
export { outboxMigration, appendToOutbox } from "./sqlite/outbox.js";
export { eventLogMigration } from "./sqlite/event-log.js";
export { embeddedConsumerMigration } from "./sqlite/consumer-position.js";
export { inboxMigration } from "./sqlite/inbox.js";
export { sqliteEventStores } from "./sqlite/event-stores.js";
export { postgresOutboxMigration, appendToPostgresOutbox } from "./postgres/outbox.js";
export { postgresEventLogMigration } from "./postgres/event-log.js";
export { postgresConsumerPositionMigration } from "./postgres/consumer-position.js";
export { postgresInboxMigration } from "./postgres/inbox.js";
export { postgresEventStores } from "./postgres/event-stores.js";
export { startOutboxRelay } from "./outbox-relay.js";
export type { OutboxRelay, OutboxRelayOptions } from "./outbox-relay.js";
export type { BackoffOptions } from "./backoff.js";
export { EventLog, eventLogOf } from "./event-log.js";
export { eventLogService, eventBusServices } from "./event-log-service.js";
export { createEmbeddedBus, isEmbeddedBus } from "./embedded-bus.js";
export type { EmbeddedBus, EmbeddedBusOptions } from "./embedded-bus.js";
export { connectNatsBus, jetStreamName } from "./nats-bus.js";
export type { NatsBusOptions } from "./nats-bus.js";
export { eventBusFromEnv } from "./bus-from-env.js";
export type { EventBusFromEnvOptions } from "./bus-from-env.js";
export { on } from "./event-handler.js";
export type { EventHandler } from "./event-handler.js";
export { startConsumer } from "./consumer.js";
export type { ConsumerOptions } from "./consumer.js";
export { deadLetterService } from "./dead-letter-service.js";
export type { DeadLetterConsumer } from "./dead-letter-service.js";
