/**
 * Paths into proto3 JSON, as contracts write them: field names joined by ".",
 * each optionally followed by an index: "[2]" for one element, "[*]" for every
 * element (e.g. "items[*].sku", "setup[0].payment.paymentId").
 */

// eslint-disable-next-line security/detect-unsafe-regex -- each repetition is delimited by "[" and "]", so it matches one way only (linear); paths come from contract files in the repo
const segmentPattern = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[(?:\d+|\*)\])*)$/;

/** The values at `path` in `json`: none when the path leads nowhere, several when it holds "[*]". */
export function valuesAt(json: unknown, path: string): unknown[] {
  let current: unknown[] = [json];
  for (const segment of path.split(".")) {
    const match = segmentPattern.exec(segment);
    if (match === null) {
      throw new Error(`"${path}" is not a field path (bad segment "${segment}")`);
    }
    const [, field = "", indexes = ""] = match;
    current = current.flatMap((value) => (isRecord(value) && field in value ? [value[field]] : []));
    for (const [, index] of indexes.matchAll(/\[(\d+|\*)\]/g)) {
      current = current.flatMap((value) => {
        if (!Array.isArray(value)) {
          return [];
        }
        if (index === "*") {
          return value as unknown[];
        }
        const element: unknown = value[Number(index)];
        return element === undefined ? [] : [element];
      });
    }
  }
  return current;
}

/** Every string leaf of `json` with its concrete path (indexes as "[n]"), prefixed by `prefix`. */
export function stringLeaves(json: unknown, prefix: string): Array<[path: string, value: string]> {
  if (typeof json === "string") {
    return [[prefix, json]];
  }
  if (Array.isArray(json)) {
    return json.flatMap((element, i) => stringLeaves(element, `${prefix}[${i}]`));
  }
  if (isRecord(json)) {
    return Object.entries(json).flatMap(([key, value]) => stringLeaves(value, prefix === "" ? key : `${prefix}.${key}`));
  }
  return [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
