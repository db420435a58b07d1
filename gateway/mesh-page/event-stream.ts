// Server-Sent Events read from a fetch() body, for the browser and Node alike.
// The page cannot use EventSource: it sends no Authorization header, and the
// mesh page's stream needs an admin token (mesh-routes.ts).

/** What a stream said besides its events. */
export interface EventStreamHandlers {
  /** Each event's data (its `data:` lines joined with "\n"), once a blank line ends it. */
  onData(data: string): void;
  /** A `retry:` field: how long to wait before reconnecting, in milliseconds. */
  onRetry?(ms: number): void;
}

/**
 * Reads `body` as text/event-stream until it ends (resolves) or fails
 * (rejects), as the HTML standard's "interpreting an event stream" says for
 * the fields the gateway sends: `data`, `retry`, and `:` comments; lines end
 * with CRLF, LF or CR; an event without data is not dispatched.
 */
export async function readEventStream(body: ReadableStream<Uint8Array>, handlers: EventStreamHandlers): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  const line = (text: string): void => {
    if (text === "") {
      if (data.length > 0) {
        handlers.onData(data.join("\n"));
      }
      data = [];
      return;
    }
    const colon = text.indexOf(":");
    if (colon === 0) {
      return;
    }
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? "" : text.slice(text[colon + 1] === " " ? colon + 2 : colon + 1);
    if (field === "data") {
      data.push(value);
    } else if (field === "retry" && /^\d+$/.test(value)) {
      handlers.onRetry?.(Number(value));
    }
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      // A CR kept back was a line end after all; a line without one is discarded, as is an event never ended.
      if (buffer.endsWith("\r")) line(buffer.slice(0, -1));
      return;
    }
    buffer += decoder.decode(value, { stream: true });
    // A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
    let at = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer[i];
      if (c === "\n" || (c === "\r" && i + 1 < buffer.length)) {
        line(buffer.slice(at, i));
        if (c === "\r" && buffer[i + 1] === "\n") i++;
        at = i + 1;
      }
    }
    buffer = buffer.slice(at);
  }
}
