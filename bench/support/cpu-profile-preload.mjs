// Preloaded with NODE_OPTIONS="--import <this file>" by bench/defaults.ts so
// that every process `make run` starts is profiled as it is started (node
// refuses --cpu-prof in NODE_OPTIONS). With BENCH_CPU_PROFILE_DIR set, the
// main thread samples from start to exit and writes
// <dir>/<pid>.cpuprofile. Plain JavaScript: it loads before tsx.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { isMainThread } from "node:worker_threads";

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (isMainThread && dir !== undefined && dir !== "") {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 500 });
  session.post("Profiler.start");
  // The in-thread inspector session answers synchronously, so this completes before exit.
  process.on("exit", () => {
    session.post("Profiler.stop", (err, result) => {
      if (err === null) {
        writeFileSync(`${dir}/${process.pid}.cpuprofile`, JSON.stringify(result.profile));
      }
    });
  });
}
