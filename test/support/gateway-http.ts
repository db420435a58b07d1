import { readFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from "jose";
import { devAlgorithm, devAudience, devAuthDirName, devIssuer, signDevToken, signingKeyFileName } from "../../gateway/auth/index.js";

/** What the gateway answered, as raw as HTTP/1.1 allows. */
export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
  /** Milliseconds from sending to the end of the response. */
  readonly ms: number;
}

export interface RawRequest {
  readonly method?: string;
  /** Sent as is on the request line (node:http refuses only spaces and control characters). */
  readonly path: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number;
  /** Send the body with chunked transfer encoding (no content-length), in 64 KiB pieces. */
  readonly chunked?: boolean;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** One HTTP/1.1 request with node:http, on a connection of its own (no URL normalization). */
export function httpRequest(baseUrl: string, request: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: Number(url.port),
      method: request.method ?? "GET",
      path: request.path,
      headers: request.headers ?? {},
      agent: false,
      timeout: request.timeoutMs ?? 30_000,
    });
    req.once("timeout", () => req.destroy(new Error(`no answer to ${request.method ?? "GET"} ${request.path.slice(0, 80)} in time`)));
    req.once("error", reject);
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("error", reject);
      res.once("end", () => {
        const body = Buffer.concat(chunks);
        const text = body.toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: parseJson(text), ms: performance.now() - started });
      });
    });
    if (request.body !== undefined && request.chunked === true) {
      const body = Buffer.from(request.body);
      for (let at = 0; at < body.length; at += 65536) {
        req.write(body.subarray(at, at + 65536));
      }
      req.end();
    } else if (request.body !== undefined) {
      req.end(request.body);
    } else {
      req.end();
    }
  });
}

/**
 * Writes `bytes` as they are on a new TCP connection and reads until the server
 * closes it (send `connection: close`), then parses one HTTP/1.1 response. For
 * request lines and headers node:http would refuse to send (raw non-ASCII
 * bytes, malformed lines).
 */
export function rawExchange(baseUrl: string, bytes: Buffer, timeoutMs = 30_000): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("no answer in time")));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.once("error", (err: NodeJS.ErrnoException) => {
      // The server may reset the connection after answering while we still write.
      if (chunks.length > 0 && (err.code === "ECONNRESET" || err.code === "EPIPE")) {
        finish();
      } else {
        reject(err);
      }
    });
    socket.once("end", finish);
    // No half-close: the gateway's listener does not allow half-open sockets,
    // so ending our side would close the connection before an async answer.
    socket.once("connect", () => socket.write(bytes));
    let done = false;
    function finish(): void {
      if (done) return;
      done = true;
      socket.destroy();
      try {
        resolve(parseResponse(Buffer.concat(chunks), performance.now() - started));
      } catch (err) {
        reject(err);
      }
    }
  });
}

function parseResponse(data: Buffer, ms: number): RawResponse {
  const split = data.indexOf("\r\n\r\n");
  if (split < 0) {
    throw new Error(`not an HTTP response: ${JSON.stringify(data.toString("latin1").slice(0, 200))}`);
  }
  const [statusLine, ...lines] = data.subarray(0, split).toString("latin1").split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (match === null) {
    throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  }
  const headers: http.IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = data.subarray(split + 4);
  const length = headers["content-length"];
  if (typeof length === "string") {
    body = body.subarray(0, Number(length));
  } else if (headers["transfer-encoding"] === "chunked") {
    body = dechunk(body);
  }
  const text = body.toString("utf8");
  return { status: Number(match[1]), headers, body, text, json: parseJson(text), ms };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(data.subarray(at, eol).toString("latin1"), 16);
    if (!(size > 0)) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Runs `tasks` with at most `limit` in flight, keeping their order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** What a problem with the gateway's error shape is, or undefined when `response` is a proper JSON error. */
export function errorShapeProblem(response: RawResponse): string | undefined {
  const contentType = String(response.headers["content-type"] ?? "");
  if (!contentType.startsWith("application/json")) {
    return `content-type ${JSON.stringify(contentType)}`;
  }
  const body = response.json as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (body === undefined || typeof body !== "object" || body === null) {
    return `body is not a JSON object: ${JSON.stringify(response.text.slice(0, 200))}`;
  }
  if (typeof body.code !== "string" || body.code === "") {
    return `no code: ${response.text.slice(0, 200)}`;
  }
  if (typeof body.message !== "string") {
    return `no message: ${response.text.slice(0, 200)}`;
  }
  if (!Array.isArray(body.details)) {
    return `details is not an array: ${response.text.slice(0, 200)}`;
  }
  if (/\bat .*\.[cm]?[tj]s:\d+/.test(response.text) || /node_modules|\/work\/|file:\/\//.test(response.text) || /"stack"\s*:|\n\s+at /.test(response.text)) {
    return `leaks internals: ${response.text.slice(0, 300)}`;
  }
  return undefined;
}

/** Tokens for a gateway whose dev keys live in `<dataDir>/auth`. */
export class DevTokens {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, devAuthDirName);
  }

  /** A valid token, as `make token` signs it. */
  sign(subject: string, scopes: readonly string[] = []): Promise<string> {
    return signDevToken(this.dir, { subject, scopes });
  }

  /** A token signed with the gateway's own key, with any claims and header. */
  async custom(claims: JWTPayload, options: { header?: Record<string, unknown>; omitExp?: boolean } = {}): Promise<string> {
    const jwk = JSON.parse(await readFile(path.join(this.dir, signingKeyFileName), "utf8")) as JWK;
    const now = Math.floor(Date.now() / 1000);
    const full: JWTPayload = { iss: devIssuer, aud: devAudience, sub: "alice", iat: now, ...(options.omitExp ? {} : { exp: now + 600 }), ...claims };
    return new SignJWT(full)
      .setProtectedHeader({ alg: devAlgorithm, kid: jwk.kid, typ: "JWT", ...options.header })
      .sign(await importJWK(jwk, devAlgorithm));
  }

  /** A well-formed token signed by a key the gateway does not know, under the gateway's kid. */
  async foreign(subject: string): Promise<string> {
    const jwk = JSON.parse(await readFile(path.join(this.dir, signingKeyFileName), "utf8")) as JWK;
    const { privateKey } = await generateKeyPair(devAlgorithm);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: devAlgorithm, kid: jwk.kid, typ: "JWT" })
      .setIssuer(devIssuer)
      .setAudience(devAudience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(privateKey);
  }
}

export const b64url = (value: unknown): string => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** `alg: none`, no signature: a token anyone can write. */
export function unsignedToken(subject: string): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ iss: devIssuer, aud: devAudience, sub: subject, iat: now, exp: now + 600 })}.`;
}

/** `token` with its payload swapped for one naming `subject`, the signature kept. */
export function tamperedToken(token: string, subject: string): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as JWTPayload;
  return `${header}.${b64url({ ...claims, sub: subject })}.${signature}`;
}
