/**
 * A google.api.http path template as an OpenAPI path.
 *
 * Every variable becomes one OpenAPI path parameter named after its field
 * path: `{sku}` -> `{sku}`, `{book.id}` -> `{book.id}`. A variable with a
 * segment pattern, `{name=shelves/*\/books/*}`, also becomes a single
 * `{name}` parameter: OpenAPI 3.1 has no multi-segment parameters, so the
 * value is the whole matched text, slashes included, and the pattern is kept
 * on the variable (for a description and a regular expression) rather than
 * spread over several invented parameters that map to no request field.
 */
export interface PathTemplate {
  /** The OpenAPI path, e.g. `/v1/orders/{order_id}:cancel`. */
  readonly path: string;
  readonly variables: readonly PathVariable[];
}

export interface PathVariable {
  /** The dotted request field path the variable binds, e.g. `order_id`. */
  readonly fieldPath: string;
  /** The segment pattern after `=`, e.g. `shelves/*\/books/*`; absent for one segment. */
  readonly segments?: string;
  /** An anchored regular expression for `segments`, when there is one. */
  readonly pattern?: string;
}

const variable = /\{([^{}=]+)(?:=([^{}]+))?\}/g;

export function parsePathTemplate(template: string): PathTemplate {
  if (!template.startsWith("/")) {
    throw new Error(`http path template "${template}" does not start with "/"`);
  }
  const variables: PathVariable[] = [];
  const path = template.replace(variable, (_match, fieldPath: string, segments: string | undefined) => {
    const name = fieldPath.trim();
    if (segments === undefined || segments === "*") {
      variables.push({ fieldPath: name });
    } else {
      variables.push({ fieldPath: name, segments, pattern: segmentsPattern(segments) });
    }
    return `{${name}}`;
  });
  if (/[{}]/.test(path.replace(/\{[^{}]+\}/g, ""))) {
    throw new Error(`http path template "${template}" has unbalanced braces`);
  }
  return { path, variables };
}

/** `shelves/*\/books/**` -> `^shelves/[^/]+/books/.+$`. */
function segmentsPattern(segments: string): string {
  const parts = segments.split("/").map((segment) => {
    if (segment === "*") {
      return "[^/]+";
    }
    if (segment === "**") {
      return ".+";
    }
    return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return `^${parts.join("/")}$`;
}
