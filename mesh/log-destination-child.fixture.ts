// A process that logs through createLogger's default destination (batched
// stdout), then ends the way its argument says: "idle" stays alive without
// logging more (the linger timer must write the lines), "exit" calls
// process.exit, "throw" dies of an uncaught exception, "many" logs enough
// lines to fill several batches and then idles. Used by log-destination.test.ts.
import { createLogger } from "./logger.js";

const how = process.argv[2];
const logger = createLogger("log-destination-child");
const count = how === "many" ? 2_000 : 3;
for (let i = 0; i < count; i++) {
  logger.info({ n: i }, "line");
}
switch (how) {
  case "exit":
    process.exit(0);
    break;
  case "throw":
    setImmediate(() => {
      throw new Error("the fixture's uncaught exception");
    });
    break;
  default:
    // Alive until the test kills it; nothing else is logged.
    setInterval(() => undefined, 60_000);
}
