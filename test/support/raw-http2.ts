import net from "node:net";

// A client that writes HTTP/2 frames as it is told, for what well-behaved
// clients never do: open more streams than the server allows, ignore its
// SETTINGS, leave header blocks or bodies unfinished. Node's and nghttp2's
// clients queue streams beyond the server's limit instead of sending them.

/** Frame types (RFC 9113 section 6). */
export const frameType = { data: 0, headers: 1, rstStream: 3, settings: 4, ping: 6, goaway: 7, windowUpdate: 8, continuation: 9 } as const;
/** Error codes (RFC 9113 section 7). */
export const h2Error = { noError: 0, protocolError: 1, refusedStream: 7, cancel: 8, enhanceYourCalm: 11 } as const;

const flagEndStream = 0x1;
const flagAck = 0x1;
const flagEndHeaders = 0x4;
const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface ReceivedFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** One frame: 9-byte header and payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
function hpackInteger(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    return Buffer.from([firstByte | value]);
  }
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A header block of literal fields without indexing and without Huffman coding (RFC 7541 section 6.2.2). */
export function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(
    headers.flatMap(([name, value]) => {
      const n = Buffer.from(name, "latin1");
      const v = Buffer.from(value, "latin1");
      return [Buffer.from([0x00]), hpackInteger(n.length, 7, 0), n, hpackInteger(v.length, 7, 0), v];
    }),
  );
}

/** A HEADERS frame of one request, ending its header block; `endStream` when it has no body. */
export function requestHeaders(streamId: number, headers: readonly (readonly [string, string])[], endStream = false): Buffer {
  return frame(frameType.headers, flagEndHeaders | (endStream ? flagEndStream : 0), streamId, headerBlock(headers));
}

/** A raw HTTP/2 connection: the frames it received, and ways to wait for them. */
export class RawHttp2Connection {
  readonly frames: ReceivedFrame[] = [];
  private buffered = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();
  private closedFlag = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 9) {
        const length = this.buffered.readUIntBE(0, 3);
        if (this.buffered.length < 9 + length) {
          break;
        }
        const received: ReceivedFrame = {
          type: this.buffered[3]!,
          flags: this.buffered[4]!,
          streamId: this.buffered.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.buffered.subarray(9, 9 + length)),
        };
        this.buffered = this.buffered.subarray(9 + length);
        this.frames.push(received);
      }
      this.wake();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  /**
   * Connects and sends the preface and an empty SETTINGS frame. With
   * `acknowledge`, waits for the server's SETTINGS and acknowledges them, so
   * that its limits are in force; without, whatever follows is sent before
   * the server's settings are acknowledged.
   */
  static async open(port: number, host = "127.0.0.1", options: { acknowledge?: boolean } = {}): Promise<RawHttp2Connection> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const connection = new RawHttp2Connection(socket);
    socket.write(Buffer.concat([preface, frame(frameType.settings, 0, 0)]));
    if (options.acknowledge === true) {
      await connection.waitFor((frames) => frames.some((f) => f.type === frameType.settings && (f.flags & flagAck) === 0), 10_000);
      socket.write(frame(frameType.settings, flagAck, 0));
      await connection.waitFor((frames) => frames.some((f) => f.type === frameType.settings && (f.flags & flagAck) !== 0), 10_000);
    }
    return connection;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** RST_STREAM frames received, by error code. */
  resets(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const f of this.frames) {
      if (f.type === frameType.rstStream) {
        const code = f.payload.readUInt32BE(0);
        counts.set(code, (counts.get(code) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** The error code of the GOAWAY received, if any. */
  goawayCode(): number | undefined {
    const goaway = this.frames.find((f) => f.type === frameType.goaway);
    return goaway?.payload.readUInt32BE(4);
  }

  /** Resolves once `done(frames)` holds, or the connection closed; rejects after `timeoutMs`. */
  async waitFor(done: (frames: readonly ReceivedFrame[]) => boolean, timeoutMs: number): Promise<void> {
    const giveUp = Date.now() + timeoutMs;
    while (!done(this.frames) && !this.closedFlag) {
      const left = giveUp - Date.now();
      if (left <= 0) {
        throw new Error(`raw HTTP/2: condition not met within ${timeoutMs} ms (${this.frames.length} frames received)`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const wake of [...this.waiters]) {
      wake();
    }
  }
}
