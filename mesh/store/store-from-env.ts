import { readFileSync } from "node:fs";
import type { Env } from "../env.js";

/** Where a service keeps its data: its own SQLite file, or its own PostgreSQL database. */
export type StoreLocation =
  | { readonly engine: "sqlite"; readonly path: string }
  | { readonly engine: "postgres"; readonly url: string };

const postgresUrl = /^postgres(ql)?:\/\//;

/**
 * The store a service's configuration asks for, read once by its main:
 *
 * - `DATABASE_URL=postgres://user:password@host:port/database`: PostgreSQL,
 *   the service's own database (it never reads another service's);
 * - `DATABASE_URL_FILE=/path`: the same URL read from a file (a mounted
 *   secret), so that the password is not in the environment;
 * - neither: SQLite, the embedded default, in `sqliteFile()` (under DATA_DIR).
 *
 * `STORE` (`sqlite` or `postgres`) states the engine; it is optional, and a
 * contradiction (STORE=postgres without a URL, STORE=sqlite with one) stops
 * the process, as do both URL variables at once or a URL that is not
 * postgres://. Every message names the variable.
 */
export function storeFromEnv(env: Env, sqliteFile: () => string): StoreLocation {
  const store = env["STORE"]?.trim() ?? "";
  if (store !== "" && store !== "sqlite" && store !== "postgres") {
    throw new Error(`STORE=${store}: expected sqlite or postgres`);
  }
  const url = env["DATABASE_URL"]?.trim() ?? "";
  const file = env["DATABASE_URL_FILE"]?.trim() ?? "";
  if (url !== "" && file !== "") {
    throw new Error("DATABASE_URL and DATABASE_URL_FILE are both set: give one");
  }
  let location: string | undefined;
  let variable = "DATABASE_URL";
  if (file !== "") {
    variable = "DATABASE_URL_FILE";
    try {
      location = readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new Error(`DATABASE_URL_FILE=${file}: cannot read it (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  } else if (url !== "") {
    location = url;
  }
  if (location === undefined) {
    if (store === "postgres") {
      throw new Error("STORE=postgres needs DATABASE_URL (or DATABASE_URL_FILE) naming the service's database");
    }
    return { engine: "sqlite", path: sqliteFile() };
  }
  if (!postgresUrl.test(location)) {
    // The value may hold a password: name the variable, not the value.
    throw new Error(`${variable} must be a postgres:// or postgresql:// URL`);
  }
  if (store === "sqlite") {
    throw new Error(`STORE=sqlite contradicts ${variable}: unset one of them`);
  }
  return { engine: "postgres", url: location };
}
