// MESH_ENV: the mode a process runs in. Development (the default: `make run`,
// the tests) starts with the fallbacks that make a mesh run on a laptop with
// nothing configured; production refuses to start with any of them, naming
// every one in a single error, so that a deployment cannot run on one by
// omission (docs/architecture.md, "Production mode").

export const meshEnvs = ["development", "production"] as const;
export type MeshEnv = (typeof meshEnvs)[number];

/** A development fallback a process would start with. */
export interface DevFallback {
  /** What to set (or unset) instead, e.g. "AUTH_ISSUER" or "MESH_INSECURE=1". */
  readonly variable: string;
  /** What the process would do in its place, in a few words. */
  readonly fallback: string;
}

/** A production process's refusal: every development fallback it found, in `fallbacks`. */
export class ProductionModeError extends Error {
  constructor(readonly fallbacks: readonly DevFallback[]) {
    super(
      `MESH_ENV=production refuses to start with ${fallbacks.length === 1 ? "this development fallback" : `these ${fallbacks.length} development fallbacks`} ` +
        `(README: Production mode):\n${fallbacks.map((f) => `  - ${f.variable}: ${f.fallback}`).join("\n")}`,
    );
    this.name = "ProductionModeError";
  }
}

/** In production, throws a ProductionModeError naming each of `fallbacks` (when any); development accepts them all. */
export function refuseDevFallbacks(mode: MeshEnv, fallbacks: readonly DevFallback[]): void {
  if (mode === "production" && fallbacks.length > 0) {
    throw new ProductionModeError(fallbacks);
  }
}

/** A variable that arms a fault for a test (SAGA_TEST_CRASH_AT, MESH_FAULTS, ...): never a production setting. */
export function testHook(variable: string): DevFallback {
  return { variable, fallback: "a test hook is armed: failures are injected on purpose" };
}

/** The fallbacks every process's runtime may start with: mTLS off, fault injection armed. */
export function runtimeDevFallbacks({ mtls, faults }: { readonly mtls: boolean; readonly faults: boolean }): DevFallback[] {
  return [
    ...(mtls ? [] : [{ variable: "MESH_INSECURE=1", fallback: "mTLS is off: every port answers anyone in cleartext and no caller is checked" }]),
    ...(faults ? [testHook("MESH_FAULTS")] : []),
  ];
}
