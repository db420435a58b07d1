import { Code, ConnectError } from "@connectrpc/connect";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encodedSlash = /%2F/gi;
// eslint-disable-next-line security/detect-unsafe-regex -- linear: each repetition is exactly "%" and two hex digits
const escapeRun = /(?:%[0-9A-Fa-f]{2})+/g;
const strayPercent = /%(?![0-9A-Fa-f]{2})/;

/**
 * Percent-decodes one piece of a URL path (RFC 3986), as google/api/http.proto
 * asks of the server: a single-segment variable is fully decoded; a
 * multi-segment variable (`**`, `shelves/*`) is decoded except that `%2F` and
 * `%2f` stay as they are, so a decoded value never gains a `/` the client did
 * not write as a separator.
 *
 * A malformed escape (`%` not followed by two hex digits) or bytes that are not
 * UTF-8 are the client's mistake, so they throw InvalidArgument (HTTP 400)
 * rather than fall through to "not found": the route may well exist.
 * `+` is a literal plus in a path (it means space only in a query string).
 */
export function percentDecode(text: string, keepEncodedSlash = false): string {
  if (!text.includes("%")) {
    return text;
  }
  if (keepEncodedSlash) {
    const parts = text.split(encodedSlash);
    const slashes = text.match(encodedSlash) ?? [];
    return parts.map((part, i) => decodeAll(part) + (slashes[i] ?? "")).join("");
  }
  return decodeAll(text);
}

function decodeAll(text: string): string {
  if (strayPercent.test(text)) {
    throw malformed(text);
  }
  return text.replace(escapeRun, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    }
    try {
      return utf8.decode(bytes);
    } catch {
      throw malformed(text);
    }
  });
}

function malformed(text: string): ConnectError {
  return new ConnectError(`malformed percent-encoding in URL path: "${text}"`, Code.InvalidArgument);
}
