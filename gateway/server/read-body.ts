import { Code, ConnectError } from "@connectrpc/connect";
import { GatewayError } from "../http/gateway-error.js";
import { payloadTooLargeStatus } from "../http/http-status.js";
import type { GatewayRequest } from "./gateway-request.js";

/** The request body as text, refusing more than `max` bytes (413) and invalid UTF-8 (400). */
export function readBody(req: GatewayRequest, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = Number(req.headers["content-length"] ?? 0) > max;
    let lingering: NodeJS.Timeout | undefined;
    // A 413 is sent once the client has finished sending (what it sends is
    // read and dropped), or after a short wait: closing on a client still
    // writing would make it see a broken pipe instead of the answer.
    const refuse = (): void => {
      clearTimeout(lingering);
      reject(tooLarge(max));
    };
    if (tooBig) {
      lingering = setTimeout(refuse, lingerMs);
    }
    req.on("data", (chunk: Buffer) => {
      if (tooBig) {
        return;
      }
      size += chunk.length;
      if (size > max) {
        tooBig = true;
        chunks.length = 0;
        lingering = setTimeout(refuse, lingerMs);
        return;
      }
      chunks.push(chunk);
    });
    req.once("error", reject);
    req.once("end", () => {
      if (tooBig) {
        refuse();
        return;
      }
      if (size === 0) {
        resolve(undefined);
        return;
      }
      try {
        resolve(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks, size)));
      } catch {
        reject(new ConnectError("request body is not valid UTF-8", Code.InvalidArgument));
      }
    });
  });
}

/** How long a refused body may keep arriving before the 413 goes out anyway. */
const lingerMs = 1_000;

function tooLarge(max: number): GatewayError {
  return new GatewayError(`request body larger than ${max} bytes`, Code.ResourceExhausted, payloadTooLargeStatus);
}
