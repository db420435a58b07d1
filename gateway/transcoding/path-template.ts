import { percentDecode } from "./percent-decode.js";
import { parseRequestPath, type PathSegments, type RequestPath } from "./request-path.js";

/** One segment of a template: a literal, `*` (exactly one segment) or `**` (the rest). */
export type TemplateSegment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "wildcard" }
  | { readonly kind: "rest" };

/** A `{field.path=...}` variable and the template segments it covers, [start, end). */
export interface TemplateVariable {
  readonly fieldPath: string;
  readonly start: number;
  readonly end: number;
  /**
   * True unless the variable covers exactly one segment that is not `**`;
   * decides the percent-decoding of its value (see percentDecode).
   */
  readonly multiSegment: boolean;
}

/** A compiled google.api.HttpRule path template. */
export interface PathTemplate {
  /** The template as written in the contract. */
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
  /** The custom verb (`cancel` in `/v1/orders/{id}:cancel`), if any. */
  readonly verb: string | undefined;
  readonly variables: readonly TemplateVariable[];
  /**
   * The template without variable names, e.g. `/v1/shelves/*\/books/*:archive`:
   * two templates with one shape match exactly the same paths.
   */
  readonly shape: string;
  /**
   * Matches a URL path (no query string): the decoded value of every variable
   * keyed by its field path, or undefined. Throws InvalidArgument for
   * malformed percent-encoding.
   */
  match(path: string): Record<string, string> | undefined;
  /** As match, for a path already split by parseRequestPath. */
  matchRequest(path: RequestPath): Record<string, string> | undefined;
}

const literalPattern = /^[A-Za-z0-9\-._~!$&'()+,;@]+$/;
const identPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a path template per the grammar of google/api/http.proto:
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * `{x}` means `{x=*}`. `**` may only be the last segment. Literals are
 * RFC 3986 unreserved and sub-delim characters (no `*`, `=`, `:`), so they
 * compare with decoded request segments as they are. A template that breaks
 * the grammar is a contract bug: this throws an Error saying where.
 */
export function parsePathTemplate(source: string): PathTemplate {
  const fail = (why: string): never => {
    throw new Error(`invalid path template "${source}": ${why}`);
  };
  if (!source.startsWith("/")) {
    fail("must start with /");
  }
  const { body, verb } = splitVerb(source.slice(1), fail);
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  for (const part of splitTopLevel(body, fail)) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) {
        fail(`unterminated variable "${part}"`);
      }
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const fieldPath = eq < 0 ? inner : inner.slice(0, eq);
      if (!fieldPath.split(".").every((ident) => identPattern.test(ident))) {
        fail(`bad field path "${fieldPath}"`);
      }
      if (variables.some((v) => v.fieldPath === fieldPath)) {
        fail(`variable "${fieldPath}" appears twice`);
      }
      const inside = eq < 0 ? [{ kind: "wildcard" } as const] : inner.slice(eq + 1).split("/").map((s) => segment(s, fail));
      const start = segments.length;
      segments.push(...inside);
      variables.push({
        fieldPath,
        start,
        end: segments.length,
        multiSegment: inside.length !== 1 || inside[0]?.kind === "rest",
      });
    } else {
      segments.push(segment(part, fail));
    }
  }
  if (segments.slice(0, -1).some((s) => s.kind === "rest")) {
    fail("** must be the last segment");
  }
  const shape =
    "/" +
    segments.map((s) => (s.kind === "literal" ? s.value : s.kind === "wildcard" ? "*" : "**")).join("/") +
    (verb === undefined ? "" : `:${verb}`);
  const template: PathTemplate = {
    source,
    segments,
    verb,
    variables,
    shape,
    match(path) {
      const request = parseRequestPath(path);
      return request && template.matchRequest(request);
    },
    matchRequest(request) {
      if (verb === undefined) {
        return capture(request.whole);
      }
      return request.withVerb?.verb === verb ? capture(request.withVerb.segments) : undefined;
    },
  };
  const capture = (path: PathSegments): Record<string, string> | undefined => {
    const end = matchSegments(segments, path);
    if (end === undefined) {
      return undefined;
    }
    const values: Record<string, string> = {};
    for (const v of variables) {
      const stop = v.end === segments.length ? end : v.end;
      values[v.fieldPath] = v.multiSegment
        ? percentDecode(path.raw.slice(v.start, stop).join("/"), true)
        : (path.decoded[v.start] ?? "");
    }
    return values;
  };
  return template;
}

/**
 * Matches segments against a request path; returns how many request segments
 * the template consumed (all of them) or undefined. `*` needs a non-empty
 * segment; `**` takes zero or more segments of any content.
 */
function matchSegments(segments: readonly TemplateSegment[], path: PathSegments): number | undefined {
  const n = path.raw.length;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.kind === "rest") {
      return n;
    }
    if (i >= n) {
      return undefined;
    }
    if (s.kind === "literal" ? path.decoded[i] !== s.value : path.raw[i] === "") {
      return undefined;
    }
  }
  return segments.length === n ? n : undefined;
}

function splitVerb(text: string, fail: (why: string) => never): { body: string; verb: string | undefined } {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === ":" && depth === 0) {
      const verb = text.slice(i + 1);
      if (!literalPattern.test(verb)) {
        fail(`bad verb "${verb}"`);
      }
      return { body: text.slice(0, i), verb };
    }
  }
  return { body: text, verb: undefined };
}

/** Splits at the `/` that are outside `{...}`; rejects nested or unbalanced braces. */
function splitTopLevel(text: string, fail: (why: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === "{") {
      if (depth > 0 || i !== start) fail("variables cannot nest and must span whole segments");
      depth++;
    } else if (c === "}") {
      if (depth === 0 || (i + 1 < text.length && text[i + 1] !== "/")) {
        fail("unbalanced } or variable not ending a segment");
      }
      depth--;
    } else if ((c === "/" && depth === 0) || i === text.length) {
      if (depth > 0) fail("unterminated variable");
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  return parts;
}

function segment(text: string, fail: (why: string) => never): TemplateSegment {
  if (text === "*") return { kind: "wildcard" };
  if (text === "**") return { kind: "rest" };
  if (!literalPattern.test(text)) {
    fail(text === "" ? "empty segment" : `bad literal segment "${text}"`);
  }
  return { kind: "literal", value: text };
}
