// The ceiling for bench/gateway.ts: a minimal node:http server that answers
// every request with a canned item JSON (CANNED_BODY), nothing else.
//   PORT=<port> CANNED_BODY='{"item":{...}}' node --import tsx bench/support/ceiling-http.ts
import http from "node:http";

const body = process.env.CANNED_BODY ?? '{"item":{"sku":"MUG-001"}}';
const length = String(Buffer.byteLength(body));
const server = http.createServer((req, res) => {
  // Drain the request (a POST body, if any) before answering.
  req.resume();
  req.once("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": length });
    res.end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  console.log(JSON.stringify({ msg: "serving", url: `http://127.0.0.1:${port}` }));
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
