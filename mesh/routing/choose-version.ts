import type { CompiledRoute } from "./route-table.js";

/**
 * Why a call went to its version: a header match, a sticky cohort (hash of
 * a header's value), a weighted draw, or no rule (the stable version). A
 * bounded set: it is a metric label.
 */
export type RouteReason = "header" | "sticky" | "weight" | "stable";

export interface VersionChoice {
  readonly version: string;
  readonly reason: RouteReason;
}

/** Reads one request header; undefined when absent. */
export type HeaderLookup = (name: string) => string | null | undefined;

/**
 * Picks the version of one call: the first header match, else the weights —
 * drawn from a hash of the sticky header's value when the call has one (one
 * customer keeps one version while the weights stay the same), else at
 * random — else the stable version. `random` is a draw in [0, 1).
 */
export function chooseVersion(
  target: string,
  route: CompiledRoute | undefined,
  stable: string,
  header: HeaderLookup,
  random: () => number = Math.random,
): VersionChoice {
  if (route === undefined) {
    return { version: stable, reason: "stable" };
  }
  for (const match of route.matches) {
    if (header(match.header) === match.value) {
      return { version: match.version, reason: "header" };
    }
  }
  if (route.weights.length === 0) {
    return { version: stable, reason: "stable" };
  }
  const cohort = route.stickyHeader === undefined ? undefined : header(route.stickyHeader);
  const sticky = cohort !== undefined && cohort !== null && cohort !== "";
  // A percentage with two decimals, so a 1% step moves exactly 1% of cohorts.
  const draw = sticky ? (cohortHash(`${target}\u0000${cohort}`) % 10_000) / 100 : random() * 100;
  for (const [version, bound] of route.weights) {
    if (draw < bound) {
      return { version, reason: sticky ? "sticky" : "weight" };
    }
  }
  return { version: stable, reason: "stable" };
}

/**
 * 32-bit FNV-1a over UTF-16 code units: stable across processes and
 * restarts (every replica of a caller puts a customer in the same cohort),
 * and spread evenly enough for percentages. Not for anything secret.
 */
export function cohortHash(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // FNV's low bits are weak for short keys; fold the high half in (murmur3's finaliser step).
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}
