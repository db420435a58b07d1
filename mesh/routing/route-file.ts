import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { fromJsonString } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import type { Logger } from "pino";
import { RouteRulesSchema, type RouteRules } from "../../gen/meshwork/routing/v1/routing_pb.js";
import type { RouteTable } from "./route-table.js";

/**
 * Reads routing rules from a file: the proto3 JSON form of
 * meshwork.routing.v1.RouteRules, checked against its protovalidate rules.
 * Throws an Error naming the file and every problem.
 */
export function readRouteFile(file: string): RouteRules {
  let rules: RouteRules;
  try {
    rules = fromJsonString(RouteRulesSchema, readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`routes file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const result = validator.validate(RouteRulesSchema, rules);
  if (result.kind === "invalid") {
    throw new Error(`routes file ${file}: ${result.violations.map((v) => v.toString()).join("; ")}`);
  }
  if (result.kind === "error") {
    throw new Error(`routes file ${file}: ${result.error.message}`, { cause: result.error });
  }
  return rules;
}

const validator = createValidator();

export interface RouteFileWatch {
  /** Stops watching. */
  close(): void;
}

/**
 * Loads `file` into `table` now (a bad file at start stops the process: the
 * error is thrown) and again whenever it changes, without a restart. A bad
 * file later is logged and ignored: the rules in force stay, so an edit
 * mistake never drops the routes a running mesh depends on.
 *
 * Polls the file's status every `intervalMs` (fs.watchFile) rather than using
 * inotify: a Kubernetes ConfigMap volume swaps a symlink, which inotify on
 * the file misses, and editors that write a new file and rename it too.
 */
export function watchRouteFile(file: string, table: RouteTable, logger: Logger, intervalMs = 500): RouteFileWatch {
  table.replace(readRouteFile(file), `file:${file}`);
  logger.info({ file, targets: Object.keys(table.current.targets) }, "routing rules loaded");
  const listener = (current: { mtimeMs: number; size: number }, previous: { mtimeMs: number; size: number }): void => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) {
      return;
    }
    try {
      table.replace(readRouteFile(file), `file:${file}`);
      logger.info({ file, targets: Object.keys(table.current.targets) }, "routing rules reloaded");
    } catch (err) {
      logger.error({ err, file }, "routing rules not reloaded: the rules in force stay");
    }
  };
  watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return { close: () => unwatchFile(file, listener) };
}
