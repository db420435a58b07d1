import { eventLogMigration, outboxMigration, postgresEventLogMigration, postgresOutboxMigration } from "../../mesh/events/index.js";

/** The demo catalogue, so a new user can order at once. Prices in USD cents. The same rows on both engines. */
const seedCatalogue = `INSERT INTO items (sku, name, description, price_minor, currency_code, available, reserved, sold) VALUES
     ('BOTTLE-001',   'Water bottle', 'Insulated steel bottle, 750 ml.',              2400, 'USD', 40,  0, 0),
     ('CAP-001',      'Cap',          'Six-panel cotton cap with an embroidered logo.', 1800, 'USD', 35,  0, 0),
     ('HOODIE-001',   'Hoodie',       'Heavyweight fleece hoodie, unisex.',            4900, 'USD', 25,  0, 0),
     ('MUG-001',      'Mug',          'Stoneware mug, 350 ml, dishwasher safe.',       1400, 'USD', 100, 0, 0),
     ('NOTEBOOK-001', 'Notebook',     'A5 dotted notebook, 192 pages.',                1200, 'USD', 60,  0, 0),
     ('POSTER-001',   'Poster',       'Service-mesh diagram poster, 50 x 70 cm.',      2000, 'USD', 30,  0, 0),
     ('STICKER-001',  'Sticker pack', 'Eight vinyl stickers.',                          500, 'USD', 100, 0, 0),
     ('TEE-001',      'T-shirt',      'Organic cotton t-shirt, unisex.',               2500, 'USD', 50,  0, 0);`;

/**
 * The inventory schema, one step per entry, applied in order, on each
 * engine: SQLite counts the steps applied in `PRAGMA user_version`,
 * PostgreSQL in schema_migrations. A step never runs twice; steps are only
 * ever appended, never edited once released, and both lists grow together.
 */
export const migrations: readonly string[] = [
  `CREATE TABLE items (
     sku           TEXT PRIMARY KEY,
     name          TEXT NOT NULL,
     description   TEXT NOT NULL,
     price_minor   INTEGER NOT NULL CHECK (price_minor >= 0),
     currency_code TEXT NOT NULL,
     available     INTEGER NOT NULL CHECK (available >= 0),
     reserved      INTEGER NOT NULL CHECK (reserved >= 0),
     sold          INTEGER NOT NULL CHECK (sold >= 0)
   ) STRICT;
   CREATE TABLE reservations (
     order_id      TEXT PRIMARY KEY,
     state         TEXT NOT NULL CHECK (state IN ('ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED')),
     expires_at_ms INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX reservations_active_by_expiry ON reservations (expires_at_ms) WHERE state = 'ACTIVE';
   CREATE TABLE reservation_lines (
     order_id TEXT NOT NULL REFERENCES reservations (order_id),
     position INTEGER NOT NULL,
     sku      TEXT NOT NULL REFERENCES items (sku),
     quantity INTEGER NOT NULL CHECK (quantity > 0),
     PRIMARY KEY (order_id, position),
     UNIQUE (order_id, sku)
   ) STRICT;
   CREATE TABLE adjustments (
     adjustment_id   TEXT PRIMARY KEY,
     sku             TEXT NOT NULL REFERENCES items (sku),
     delta           INTEGER NOT NULL,
     reason          TEXT NOT NULL,
     available_after INTEGER NOT NULL,
     reserved_after  INTEGER NOT NULL,
     sold_after      INTEGER NOT NULL,
     created_at_ms   INTEGER NOT NULL
   ) STRICT;`,

  // The demo catalogue.
  seedCatalogue,

  // Stock events, written with the changes that cause them.
  outboxMigration,
  // The embedded bus's log of published events, served to consumers from this service's port.
  eventLogMigration,
];

export const postgresMigrations: readonly string[] = [
  `CREATE TABLE items (
     sku           text PRIMARY KEY,
     name          text NOT NULL,
     description   text NOT NULL,
     price_minor   bigint NOT NULL CHECK (price_minor >= 0),
     currency_code text NOT NULL,
     available     integer NOT NULL CHECK (available >= 0),
     reserved      integer NOT NULL CHECK (reserved >= 0),
     sold          integer NOT NULL CHECK (sold >= 0)
   );
   CREATE TABLE reservations (
     order_id      text PRIMARY KEY,
     state         text NOT NULL CHECK (state IN ('ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED')),
     expires_at_ms bigint NOT NULL
   );
   CREATE INDEX reservations_active_by_expiry ON reservations (expires_at_ms) WHERE state = 'ACTIVE';
   CREATE TABLE reservation_lines (
     order_id text NOT NULL REFERENCES reservations (order_id),
     position integer NOT NULL,
     sku      text NOT NULL REFERENCES items (sku),
     quantity integer NOT NULL CHECK (quantity > 0),
     PRIMARY KEY (order_id, position),
     UNIQUE (order_id, sku)
   );
   CREATE TABLE adjustments (
     adjustment_id   text PRIMARY KEY,
     sku             text NOT NULL REFERENCES items (sku),
     delta           integer NOT NULL,
     reason          text NOT NULL,
     available_after integer NOT NULL,
     reserved_after  integer NOT NULL,
     sold_after      integer NOT NULL,
     created_at_ms   bigint NOT NULL
   );`,
  seedCatalogue,
  postgresOutboxMigration,
  postgresEventLogMigration,
];
