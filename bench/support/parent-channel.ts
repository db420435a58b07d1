// The child's end of ipc-child.ts: answers the parent's requests over IPC,
// reports a failed one as {type: "error", message}, and exits on {type:
// "stop"} or when the parent goes away.
import type { IpcMessage } from "./ipc-child.js";

export interface ParentChannelOptions<Request extends IpcMessage> {
  /** Answers one request (any but stop). */
  readonly answer: (request: Exclude<Request, { type: "stop" }>) => Promise<IpcMessage> | IpcMessage;
  /** Releases what the child holds, on stop; a failure is ignored. */
  readonly close: () => Promise<void>;
  /** How long `close` may take before the child exits anyway. */
  readonly closeGraceMs: number;
}

/** Whether this process was started with an IPC channel (by an IpcChild). */
export function hasParent(): boolean {
  return process.send !== undefined;
}

/** Starts answering the parent and tells it {type: "ready", port}. */
export function answerParent<Request extends IpcMessage>(port: number, options: ParentChannelOptions<Request>): void {
  const send = (message: IpcMessage): void => void process.send?.(message);
  process.on("disconnect", () => process.exit(1));
  if (!process.connected) {
    // The parent went away while this child was starting.
    process.exit(1);
  }
  process.on("message", (message: Request) => {
    void (async () => {
      if (message.type !== "stop") {
        send(await options.answer(message as Exclude<Request, { type: "stop" }>));
        return;
      }
      // Exit normally (not by signal) so that --cpu-prof writes its profile.
      const exit = setTimeout(() => process.exit(0), options.closeGraceMs);
      await options.close().catch(() => undefined);
      clearTimeout(exit);
      process.exit(0);
    })().catch((e: unknown) => send({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) } as IpcMessage));
  });
  send({ type: "ready", port } as IpcMessage);
}
