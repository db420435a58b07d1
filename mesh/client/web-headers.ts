import type http2 from "node:http2";

/** connect-node's nodeHeaderToWebHeader: pseudo-headers dropped, repeated fields appended. */
export function toWebHeaders(node: http2.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const key in node) {
    const value = node[key] as string | string[] | number | undefined;
    if (key.startsWith(":") || value === undefined) {
      continue;
    }
    if (Array.isArray(value)) {
      for (const v of value) {
        headers.append(key, v);
      }
    } else {
      headers.append(key, String(value));
    }
  }
  return headers;
}
