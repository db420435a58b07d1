/**
 * JSON.parse, except that integers a double cannot hold exactly (beyond
 * 2^53) become strings. Proto3 JSON allows an int64 as a bare number, and
 * JSON.parse would silently round it on Node 20; every proto3 JSON number
 * field also accepts the string form, so quoting them keeps their meaning.
 */
export function parseJsonExactly(text: string): unknown {
  return JSON.parse(quoteUnsafeIntegers(text));
}

const integer = /-?\d+/y;

function quoteUnsafeIntegers(text: string): string {
  let out: string[] | undefined;
  let copiedTo = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) {
        i++;
      } else if (c === 0x22 /* " */) {
        inString = false;
      }
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if (c !== 0x2d /* - */ && (c < 0x30 || c > 0x39)) {
      continue;
    }
    integer.lastIndex = i;
    const match = integer.exec(text);
    if (match === null) {
      continue;
    }
    const end = i + match[0].length;
    const next = text.charCodeAt(end);
    const isInteger = next !== 0x2e /* . */ && next !== 0x65 /* e */ && next !== 0x45; /* E */
    if (isInteger && !Number.isSafeInteger(Number(match[0]))) {
      out ??= [];
      out.push(text.slice(copiedTo, i), `"${match[0]}"`);
      copiedTo = end;
    }
    i = end - 1;
  }
  return out === undefined ? text : out.join("") + text.slice(copiedTo);
}
