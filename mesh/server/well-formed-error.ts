import { ConnectError } from "@connectrpc/connect";

/**
 * The error with a message gRPC's trailers can carry. `grpc-message` is
 * percent-encoded UTF-8, and Connect's `setTrailerStatus` throws URIError on a
 * message holding a lone surrogate, leaving the call unanswered. V8 writes
 * one into a JSON parse error on a body with a character outside the BMP
 * ("Unexpected token '\ud834'"), so a client can cause it. Lone surrogates
 * become U+FFFD (what UTF-8 encoding does with them).
 */
export function wellFormedError(error: ConnectError): ConnectError {
  const message = Buffer.from(error.rawMessage, "utf8").toString("utf8");
  return message === error.rawMessage ? error : new ConnectError(message, error.code, error.metadata, undefined, error);
}
