import { parsePathTemplate as parseHttpTemplate, type TemplateSegment } from "../transcoding/path-template.js";

/**
 * A google.api.http path template as an OpenAPI path, from the one template
 * parser the gateway routes with (gateway/transcoding/path-template.ts), so
 * the document and the routes agree on what a template matches.
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

export function parsePathTemplate(template: string): PathTemplate {
  const parsed = parseHttpTemplate(template);
  const parts: string[] = [];
  const variables: PathVariable[] = [];
  let next = 0;
  for (const v of [...parsed.variables].sort((a, b) => a.start - b.start)) {
    parts.push(...parsed.segments.slice(next, v.start).map(segmentText));
    const inside = parsed.segments.slice(v.start, v.end);
    parts.push(`{${v.fieldPath}}`);
    variables.push(
      inside.length === 1 && inside[0]?.kind === "wildcard"
        ? { fieldPath: v.fieldPath }
        : { fieldPath: v.fieldPath, segments: inside.map(segmentText).join("/"), pattern: segmentsPattern(inside) },
    );
    next = v.end;
  }
  parts.push(...parsed.segments.slice(next).map(segmentText));
  return { path: `/${parts.join("/")}${parsed.verb === undefined ? "" : `:${parsed.verb}`}`, variables };
}

function segmentText(segment: TemplateSegment): string {
  return segment.kind === "literal" ? segment.value : segment.kind === "wildcard" ? "*" : "**";
}

/**
 * What the routes accept for a variable's segments, as a regular expression:
 * `*` one non-empty segment, `**` (always last) zero or more segments of any
 * content. `shelves/*\/books/**` -> `^shelves/[^/]+/books(?:/.*)?$`.
 */
function segmentsPattern(segments: readonly TemplateSegment[]): string {
  const rest = segments.at(-1)?.kind === "rest";
  const fixed = (rest ? segments.slice(0, -1) : segments).map((s) =>
    s.kind === "wildcard" ? "[^/]+" : segmentText(s).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
  );
  const head = fixed.join("/");
  return `^${head}${rest ? (fixed.length === 0 ? ".*" : "(?:/.*)?") : ""}$`;
}
