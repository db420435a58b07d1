import { Code } from "@connectrpc/connect";

/** A Connect code as contracts write it, the Connect protocol's own name: Code.FailedPrecondition -> "failed_precondition". */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
