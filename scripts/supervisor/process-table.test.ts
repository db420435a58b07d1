import { expect } from "chai";
import { processTable } from "./process-table.js";
import type { ProcessStatus } from "./supervisor.js";

const status = (name: string, port: number): ProcessStatus => ({ name, port, pid: 100 + port, state: "serving", restarts: 0, lastExit: undefined });
const url = (port: number): string => `http://127.0.0.1:${port}`;

describe("processTable (make run's table)", () => {
  it("has no notes column when no process has a note", () => {
    const lines = processTable([status("inventory", 1)], url).split("\n");
    expect(lines[0]).to.match(/^process\s+pid\s+address\s+health\s+restarts$/);
    expect(lines[2]).to.match(/^inventory\s+101\s+http:\/\/127\.0\.0\.1:1\s+SERVING\s+0$/);
  });

  it("prints the caption above it and each process's note in its row", () => {
    const notes = new Map([["payments", "card processor: simulated"]]);
    const lines = processTable([status("inventory", 1), status("payments", 2)], url, { caption: "development mode", notes }).split("\n");
    expect(lines[0]).to.equal("development mode");
    expect(lines[1]).to.match(/restarts\s+notes$/);
    expect(lines[3]).to.match(/^inventory\s+101\s+\S+\s+SERVING\s+0$/);
    expect(lines[4]).to.match(/^payments\s+102\s+\S+\s+SERVING\s+0\s+card processor: simulated$/);
  });
});
