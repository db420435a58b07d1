// A child process that holds many connections to one port, as a slowloris
// attacker does, so that the test process itself keeps few descriptors. Run
// with a raised open-file limit (see withFileLimit). Driven over IPC:
//   parent -> {type:"open", port, idle, dribbling, dribbleEveryMs}
//   child  -> {type:"opened", idle, dribbling, openMs, open, closedByServer}  once every connection is established
//   parent -> {type:"count"}
//   child  -> {type:"count", open, closedByServer, answered408}
//   parent -> {type:"stop"}
import net from "node:net";

interface OpenCommand {
  readonly type: "open";
  readonly port: number;
  /** Connections that send nothing at all. */
  readonly idle: number;
  /** Connections that send an HTTP/1.1 request line, then one header line every dribbleEveryMs, never ending. */
  readonly dribbling: number;
  readonly dribbleEveryMs: number;
}

type Command = OpenCommand | { readonly type: "count" } | { readonly type: "stop" };

const sockets = new Set<net.Socket>();
let closedByServer = 0;
let answered408 = 0;
let dribbler: NodeJS.Timeout | undefined;

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Concurrent connects while opening: under Node's listen backlog (511), so no SYN waits for a retransmit. */
const connectWindow = 400;

async function openAll(command: OpenCommand): Promise<void> {
  const dribbling: net.Socket[] = [];
  const total = command.idle + command.dribbling;
  const started = performance.now();
  // A sliding window of connects rather than batches, so a slow connect holds
  // up only its own slot: opening fast matters, since the server's first-byte
  // timeout starts for each connection as it is accepted.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const isDribbler = next++ >= command.idle;
      const socket = await connect(command.port);
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("data", (chunk: Buffer) => {
        if (chunk.toString("latin1").startsWith("HTTP/1.1 408")) {
          answered408++;
        }
      });
      // A socket this process did not destroy was closed by the server.
      socket.once("close", () => {
        if (sockets.delete(socket)) {
          closedByServer++;
        }
      });
      if (isDribbler) {
        socket.write("GET /healthz HTTP/1.1\r\nHost: slowloris\r\n");
        dribbling.push(socket);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(connectWindow, total) }, worker));
  const openMs = performance.now() - started;
  let line = 0;
  dribbler = setInterval(() => {
    line++;
    for (const socket of dribbling) {
      if (!socket.destroyed) {
        socket.write(`x-dribble-${line}: 1\r\n`);
      }
    }
  }, command.dribbleEveryMs);
  process.send?.({ type: "opened", idle: command.idle, dribbling: command.dribbling, openMs, open: sockets.size, closedByServer });
}

process.on("message", (command: Command) => {
  switch (command.type) {
    case "open":
      openAll(command).catch((err: unknown) => {
        process.send?.({ type: "failed", message: err instanceof Error ? err.message : String(err) });
      });
      return;
    case "count":
      process.send?.({ type: "count", open: sockets.size, closedByServer, answered408 });
      return;
    case "stop":
      clearInterval(dribbler);
      for (const socket of [...sockets]) {
        sockets.delete(socket);
        socket.destroy();
      }
      process.disconnect();
      return;
  }
});
