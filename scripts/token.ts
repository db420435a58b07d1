// Prints a bearer token the locally running gateway accepts, signed with the
// dev key (created first if absent). Only the token goes to stdout, so
// `curl -H "Authorization: Bearer $(make token SUB=alice)" ...` works.
//   tsx scripts/token.ts --sub <subject> [--scope "meshwork:admin"] [--ttl 3600] [--dir <dir>]
// The key folder is found as in scripts/dev-keys.ts.
import path from "node:path";
import { parseArgs } from "node:util";
import { devAuthDirName, signDevToken } from "../gateway/auth/index.js";
import { envString } from "../mesh/index.js";

const usage = 'usage: tsx scripts/token.ts --sub <subject> [--scope "meshwork:admin"] [--ttl <seconds>] [--dir <dir>]';

const root = path.resolve(import.meta.dirname, "..");
let values;
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: "string" },
      scope: { type: "string" },
      ttl: { type: "string" },
      dir: { type: "string" },
    },
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${usage}`);
}
if (values.sub === undefined || values.sub === "") {
  fail(`--sub is required\n${usage}`);
}
const ttlSec = values.ttl === undefined ? undefined : Number(values.ttl);
if (ttlSec !== undefined && !(Number.isInteger(ttlSec) && ttlSec > 0)) {
  fail(`--ttl must be a positive whole number of seconds, got ${values.ttl}`);
}
const dir = values.dir !== undefined
  ? path.resolve(values.dir)
  : path.resolve(root, envString(process.env, "MESH_DATA_DIR", ".data"), devAuthDirName);

const token = await signDevToken(dir, {
  subject: values.sub,
  scopes: (values.scope ?? "").split(" ").filter((s) => s !== ""),
  ...(ttlSec === undefined ? {} : { ttlSec }),
});
console.log(token);

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
