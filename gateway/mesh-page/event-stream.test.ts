import { expect } from "chai";
import { readEventStream } from "./event-stream.js";

/** A body delivering `chunks` as they are cut, to test lines split across reads. */
function body(chunks: readonly string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function read(chunks: readonly string[]): Promise<{ data: string[]; retries: number[] }> {
  const data: string[] = [];
  const retries: number[] = [];
  await readEventStream(body(chunks), { onData: (d) => data.push(d), onRetry: (ms) => retries.push(ms) });
  return { data, retries };
}

describe("readEventStream", () => {
  it("reads the gateway's stream: retry, then one data event per blank line", async () => {
    expect(await read(["retry: 1000\n\n", 'data: {"a":1}\n\n', 'data: {"a":2}\n\n'])).to.deep.equal({ data: ['{"a":1}', '{"a":2}'], retries: [1000] });
  });

  it("joins data lines, takes CRLF, LF and CR line ends, and lines and CRLFs cut across reads", async () => {
    expect((await read(["data: one\r\ndata:two\r", "\n\r\ndata: thr", "ee\rdata: four\r\r"])).data).to.deep.equal(["one\ntwo", "three\nfour"]);
  });

  it("skips comments, unknown fields, events without data and a last event never ended", async () => {
    expect(await read([": keep-alive\n\n", "event: x\nid: 3\n\n", "retry: soon\n\n", "data: a\n\n", "data: unfinished"])).to.deep.equal({ data: ["a"], retries: [] });
  });
});
