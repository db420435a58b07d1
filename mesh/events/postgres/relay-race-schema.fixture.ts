/** The relay race test's record of every publish (no deduplication), beside the outbox. */
export const publishesTable = `CREATE TABLE publishes (
  seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id text NOT NULL,
  subject  text NOT NULL,
  relay    text NOT NULL
)`;
