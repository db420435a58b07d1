import { fromJson, toBinary, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { stringFieldNumbers, type Json } from "./message-arbitrary.js";

/**
 * Ways to break a generated message: in its JSON text, in its protobuf
 * bytes, and in the gRPC length-prefixed frame around it. Each mutation is
 * an arbitrary of bytes, so fast-check shrinks the message and the mutation
 * together and prints the bytes a failure was found with.
 */

/** Values of the wrong type (or out of range) for any field. */
const wrongValues: Json[] = [null, true, 0, -1, 1.5, 1e300, "", "x", [], {}, [1], { a: 1 }, "9223372036854775808", "NaN"];

type JsonMutation =
  | { kind: "none" }
  | { kind: "wrong-value"; at: number; value: Json }
  | { kind: "unknown-field"; name: string }
  | { kind: "drop-field"; at: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; text: string }
  | { kind: "invalid-utf8"; at: number; bytes: number[] }
  | { kind: "nesting"; depth: number }
  | { kind: "duplicate-key"; at: number }
  | { kind: "replace"; text: string };

const invalidUtf8: number[][] = [[0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3], [0xfe, 0xfe, 0xff]];

const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: "none" as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("wrong-value" as const), at: fc.nat(), value: fc.constantFrom(...wrongValues) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("unknown-field" as const), name: fc.constantFrom("foo", "customerId", "customer_id", "__proto__", "constructor", "@type", "orderId") }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("drop-field" as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.constantFrom(",", "}", "]", '"', "\\", ":", "{", "[", "\u0000", "/*", "1e999", "\\u12") }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("invalid-utf8" as const), at: fc.nat(), bytes: fc.constantFrom(...invalidUtf8) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("nesting" as const), depth: fc.constantFrom(100, 1_000, 20_000) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("duplicate-key" as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("replace" as const), text: fc.oneof(fc.constantFrom("", "null", "[]", "1", '"s"', "{", "true"), fc.string({ maxLength: 16 })) }), weight: 1 },
);

function setAt(value: Json, at: number, replacement: Json): Json {
  // The at-th leaf or object member, depth first.
  let index = 0;
  const walk = (v: Json): Json => {
    if (v !== null && typeof v === "object") {
      if (Array.isArray(v)) {
        return v.map(walk);
      }
      const out: { [key: string]: Json } = {};
      for (const [k, child] of Object.entries(v)) {
        out[k] = index++ === at ? replacement : walk(child);
      }
      return out;
    }
    return v;
  };
  const keys = countMembers(value);
  if (keys === 0) {
    return replacement;
  }
  at %= keys;
  return walk(value);
}

function countMembers(v: Json): number {
  if (v === null || typeof v !== "object") {
    return 0;
  }
  return Array.isArray(v) ? v.reduce<number>((n, c) => n + countMembers(c), 0) : Object.values(v).reduce<number>((n, c) => n + 1 + countMembers(c), 0);
}

function applyJsonMutation(value: Json, m: JsonMutation): Buffer {
  const text = (): string => JSON.stringify(value);
  switch (m.kind) {
    case "none":
      return Buffer.from(text());
    case "wrong-value":
      return Buffer.from(JSON.stringify(setAt(value, m.at, m.value)));
    case "unknown-field":
      return Buffer.from(text().replace(/^\{/, `{${JSON.stringify(m.name)}:{"a":1}${text() === "{}" ? "" : ","}`));
    case "drop-field": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return Buffer.from(text());
      }
      const keys = Object.keys(value);
      const out = { ...value };
      if (keys.length > 0) {
        delete out[keys[m.at % keys.length]!];
      }
      return Buffer.from(JSON.stringify(out));
    }
    case "truncate": {
      const t = Buffer.from(text());
      return t.subarray(0, m.at % Math.max(1, t.length));
    }
    case "insert": {
      const t = text();
      const at = m.at % (t.length + 1);
      return Buffer.from(t.slice(0, at) + m.text + t.slice(at));
    }
    case "invalid-utf8": {
      const t = Buffer.from(text());
      // Inside a string when there is one: just after an opening quote.
      const quotes = [...t.keys()].filter((i) => t[i] === 0x22);
      const at = quotes.length > 0 ? quotes[m.at % quotes.length]! + 1 : m.at % (t.length + 1);
      return Buffer.concat([t.subarray(0, at), Buffer.from(m.bytes), t.subarray(at)]);
    }
    case "nesting":
      return Buffer.from('{"a":'.repeat(m.depth) + "1" + "}".repeat(m.depth));
    case "duplicate-key": {
      if (value === null || typeof value !== "object" || Array.isArray(value) || Object.keys(value).length === 0) {
        return Buffer.from(text());
      }
      const keys = Object.keys(value);
      const key = keys[m.at % keys.length]!;
      return Buffer.from(text().replace(/\}$/, `,${JSON.stringify(key)}:${JSON.stringify(wrongValues[m.at % wrongValues.length])}}`));
    }
    case "replace":
      return Buffer.from(m.text);
  }
}

/** A request body as JSON text, valid or broken. */
export function jsonBody(message: fc.Arbitrary<Json>): fc.Arbitrary<Buffer> {
  return fc.tuple(message, jsonMutation).map(([value, m]) => applyJsonMutation(value, m));
}

/** The binary encoding of a generated JSON message; the empty message when the JSON is not one `desc` accepts. */
export function toProtobuf(desc: DescMessage, value: Json): Uint8Array {
  try {
    return toBinary(desc, fromJson(desc, value as JsonValue));
  } catch {
    return new Uint8Array(0);
  }
}

type BinaryMutation =
  | { kind: "none" }
  | { kind: "truncate"; at: number }
  | { kind: "flip"; at: number; mask: number }
  | { kind: "bad-varint" }
  | { kind: "invalid-utf8"; field: number; bytes: number[] }
  | { kind: "bad-wire-type"; field: number; wireType: number }
  | { kind: "length-overflow"; field: number }
  | { kind: "random"; bytes: number[] };

const binaryMutation: fc.Arbitrary<BinaryMutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: "none" as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), weight: 2 },
  { arbitrary: fc.constant({ kind: "bad-varint" as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("invalid-utf8" as const), field: fc.nat(), bytes: fc.constantFrom(...invalidUtf8) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("bad-wire-type" as const), field: fc.integer({ min: 1, max: 20 }), wireType: fc.constantFrom(3, 4, 6, 7) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("length-overflow" as const), field: fc.integer({ min: 1, max: 20 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("random" as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) }), weight: 1 },
);

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function applyBinaryMutation(desc: DescMessage, bytes: Uint8Array, m: BinaryMutation): Buffer {
  const b = Buffer.from(bytes);
  switch (m.kind) {
    case "none":
      return b;
    case "truncate":
      return b.subarray(0, m.at % Math.max(1, b.length));
    case "flip": {
      if (b.length === 0) {
        return Buffer.from([m.mask]);
      }
      const out = Buffer.from(b);
      const at = m.at % out.length;
      out[at] = out[at]! ^ m.mask;
      return out;
    }
    case "bad-varint":
      // Field 1 as a varint of eleven continuation bytes: longer than any 64-bit varint.
      return Buffer.concat([b, Buffer.from([0x08, ...new Array<number>(11).fill(0xff), 0x01])]);
    case "invalid-utf8": {
      const fields = stringFieldNumbers(desc);
      const field = fields.length > 0 ? fields[m.field % fields.length]! : 1;
      return Buffer.concat([b, Buffer.from([...varint((field << 3) | 2), ...varint(m.bytes.length), ...m.bytes])]);
    }
    case "bad-wire-type":
      return Buffer.concat([b, Buffer.from([...varint((m.field << 3) | m.wireType), 0x01])]);
    case "length-overflow":
      return Buffer.concat([b, Buffer.from([...varint((m.field << 3) | 2), 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41])]);
    case "random":
      return Buffer.from(m.bytes);
  }
}

/** A protobuf body of `desc`, valid or broken at the byte level. */
export function protobufBody(desc: DescMessage, message: fc.Arbitrary<Json>): fc.Arbitrary<Buffer> {
  return fc.tuple(message, binaryMutation).map(([value, m]) => applyBinaryMutation(desc, toProtobuf(desc, value), m));
}

/** What a gRPC (or gRPC-Web) body looks like around its message, and the grpc-encoding it is sent with. */
export type Framing =
  | { kind: "frame"; flags: number }
  | { kind: "lying-length"; extra: number }
  | { kind: "huge-length"; length: number }
  | { kind: "header-only"; bytes: number }
  | { kind: "gzip"; flags: number }
  | { kind: "gzip-bomb"; mib: number }
  | { kind: "two-frames" }
  | { kind: "trailing"; bytes: number[] }
  | { kind: "empty" }
  | { kind: "oversized"; mib: number };

export const framing: fc.Arbitrary<Framing> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("frame" as const), flags: fc.constant(0) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant("frame" as const), flags: fc.constantFrom(1, 2, 0x7f, 0x80, 0x81, 0xff) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("lying-length" as const), extra: fc.constantFrom(-1, 1, 10, 1000) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("huge-length" as const), length: fc.constantFrom(0x7fffffff, 0xffffffff, 4 * 1024 * 1024 + 1, 64 * 1024 * 1024) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("header-only" as const), bytes: fc.integer({ min: 1, max: 4 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("gzip" as const), flags: fc.constantFrom(0, 1) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("gzip-bomb" as const), mib: fc.constantFrom(8, 64) }), weight: 1 },
  { arbitrary: fc.constant({ kind: "two-frames" as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("trailing" as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }) }), weight: 1 },
  { arbitrary: fc.constant({ kind: "empty" as const }), weight: 1 },
);

/** Rarely: a real body over the services' 4 MiB message limit (costly to send, so few). */
export const framingWithOversized: fc.Arbitrary<Framing> = fc.oneof(
  { arbitrary: framing, weight: 200 },
  { arbitrary: fc.record({ kind: fc.constant("oversized" as const), mib: fc.constantFrom(5) }), weight: 1 },
);

function frame(message: Uint8Array, flags = 0, length = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(length >>> 0, 1);
  out.set(message, 5);
  return out;
}

const bombs = new Map<number, Buffer>();

/** gzip of `mib` MiB of zeros (made once per size): a few KiB that expand a thousandfold. */
function gzipBomb(mib: number): Buffer {
  let bomb = bombs.get(mib);
  if (bomb === undefined) {
    bomb = gzipSync(Buffer.alloc(mib * 1024 * 1024), { level: 9 });
    bombs.set(mib, bomb);
  }
  return bomb;
}

/** The gRPC body of `message` framed as `f`. */
export function applyFraming(message: Uint8Array, f: Framing): Buffer {
  switch (f.kind) {
    case "frame":
      return frame(message, f.flags);
    case "lying-length":
      return frame(message, 0, Math.max(0, message.length + f.extra));
    case "huge-length":
      return frame(message, 0, f.length);
    case "header-only":
      return frame(message).subarray(0, f.bytes);
    case "gzip":
      return frame(f.flags === 1 ? gzipSync(message) : message, 1);
    case "gzip-bomb":
      return frame(gzipBomb(f.mib), 1);
    case "two-frames":
      return Buffer.concat([frame(message), frame(message)]);
    case "trailing":
      return Buffer.concat([frame(message), Buffer.from(f.bytes)]);
    case "empty":
      return Buffer.alloc(0);
    case "oversized":
      return frame(Buffer.alloc(f.mib * 1024 * 1024, 0x41));
  }
}
