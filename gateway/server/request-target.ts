/** A request target split as sent: no URL parsing, which would read "//x" as a host and fold "..". */
export interface RequestTarget {
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

/** Splits a raw request target at its first "?", keeping the path as the client sent it. */
export function splitTarget(raw: string): RequestTarget {
  const q = raw.indexOf("?");
  return q < 0
    ? { pathname: raw, searchParams: new URLSearchParams() }
    : { pathname: raw.slice(0, q), searchParams: new URLSearchParams(raw.slice(q + 1)) };
}
