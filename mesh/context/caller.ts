import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { cleartextPeer, type Peer } from "../identity/peer.js";

/**
 * Who called, as the connection's TLS handshake proved it: the server puts it
 * in every call's context values (the fast path and connect-node alike), for
 * authorization and the call's log line.
 */
export const callerKey = createContextKey<Peer>(cleartextPeer, { description: "caller's identity" });

/** The caller of a call being served. */
export function callerOf(context: HandlerContext): Peer {
  return context.values.get(callerKey);
}
