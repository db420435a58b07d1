// Creates the embedded default's signing key and JWKS if absent, and prints
// where they are. Idempotent: an existing key is kept.
//   tsx scripts/dev-keys.ts [--dir <dir>]
// The folder is --dir (relative to the working directory), else
// $MESH_DATA_DIR/auth (relative to the repository, as `make run` reads it),
// else .data/auth.
import path from "node:path";
import { parseArgs } from "node:util";
import { devAuthDirName, ensureDevKeys } from "../gateway/auth/index.js";
import { envString } from "../mesh/index.js";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { dir: { type: "string" } } });
const dir = values.dir !== undefined
  ? path.resolve(values.dir)
  : path.resolve(root, envString(process.env, "MESH_DATA_DIR", ".data"), devAuthDirName);

const keys = await ensureDevKeys(dir);
console.log(`${keys.created ? "created" : "kept"} signing key ${keys.kid}`);
console.log(`  private: ${keys.signingKeyFile}`);
console.log(`  jwks:    ${keys.jwksFile}`);
