import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { freePort } from "../../test/support/free-port.js";
import { createLogger } from "../logger.js";
import { openEventsDatabase, type EventsDatabase } from "../../test/support/events-database.js";
import { eventBusFromEnv } from "./bus-from-env.js";
import { isEmbeddedBus } from "./embedded-bus.js";

const logger = createLogger("bus-from-env-test", "silent");

describe("eventBusFromEnv", () => {
  let dir: string;
  let db: EventsDatabase;
  let store: EventsDatabase["events"];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "meshwork-bus-env-"));
    db = await openEventsDatabase({ engine: "sqlite", path: path.join(dir, "p.db") }, "producer");
    store = db.events;
  });

  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the embedded bus when NATS_URL is unset or empty", async () => {
    for (const env of [{}, { NATS_URL: "" }]) {
      const bus = await eventBusFromEnv(env, { name: "p", store, logger });
      expect(isEmbeddedBus(bus)).to.equal(true);
      await bus.close();
    }
  });

  it("refuses a malformed NATS_URL, naming the variable", async () => {
    const err = await eventBusFromEnv({ NATS_URL: "http://127.0.0.1:4222" }, { name: "p", store, logger }).catch((e: unknown) => e);
    expect(String(err)).to.match(/NATS_URL=http:\/\/127\.0\.0\.1:4222: .* is not a NATS URL/);
  });

  it("fails at start when no NATS server answers, naming the variable", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const err = await eventBusFromEnv({ NATS_URL: url }, { name: "p", store, logger }).catch((e: unknown) => e);
    expect(String(err)).to.include(`NATS_URL=${url}: cannot connect to NATS at ${url}`);
  });
});
