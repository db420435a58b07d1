import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";

/** The code as a metrics label value ("ok", "unavailable", ...), computed once per code. */
const codeLabels: readonly string[] = Array.from({ length: 17 }, (_, code) => (code === 0 ? "ok" : codeToString(code as Code)));

/**
 * A call's outcome as a label: "ok" for gRPC's 0 (Connect's Code enum has no
 * OK), else Connect's lower_snake name ("failed_precondition").
 */
export function codeLabel(code: Code): string {
  return codeLabels[code] ?? codeToString(code);
}
