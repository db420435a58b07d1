import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { buildApiImage } from "../../scripts/support/api-image.js";
import { withFileLimit } from "./file-limit.js";
import { testCredentialDir } from "./test-identity.js";

const root = path.resolve(import.meta.dirname, "../..");

/** A service main running as its own OS process, as in split mode. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** e.g. https://127.0.0.1:41234 (http:// with MESH_INSECURE=1): where its RPCs are. */
  readonly url: string;
  /**
   * e.g. http://127.0.0.1:41234: the same port in cleartext, where probes and
   * metrics answer without a client certificate (/healthz, /readyz,
   * /metrics, grpc.health.v1), as Kubernetes and Prometheus reach them.
   */
  readonly probeUrl: string;
  /** "127.0.0.1:41234", for grpc-js. */
  readonly address: string;
  /** Every log line the process wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Sends SIGKILL and resolves once the process is gone. */
  kill(): Promise<void>;
  /** Resolves when the process exits, by itself or otherwise, with its exit code or the signal that ended it. */
  readonly exited: Promise<ServiceExit>;
  /**
   * Starts the service again on the same port, with the environment it was
   * first started with (so also its data directory) plus `env`, once this
   * process has exited (sent SIGTERM if it still runs); resolves once the new
   * one is serving. Overrides given to an earlier restart do not carry over.
   */
  restart(env?: Record<string, string>): Promise<ServiceProcess>;
}

export interface ServiceExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartServiceOptions {
  /** Run it with this open-file limit (ulimit -n), or the hard limit when that is lower: for tests that open thousands of connections. */
  readonly fileLimit?: number;
}

/**
 * Starts services/<name>/main.ts (or gateway/main.ts) on an ephemeral port with the given
 * environment and resolves once it logs that it is serving. It runs with mTLS
 * as its own identity (MESH_TLS_DIR with certificates of the run's test CA)
 * unless `env` sets MESH_INSECURE=1 or its own MESH_TLS_* files.
 */
export async function startService(name: string, env: Record<string, string>, options: StartServiceOptions = {}): Promise<ServiceProcess> {
  // The gateway reads its services' descriptors from a buf image (gateway/gateway.yaml).
  const image: Record<string, string> = name === "gateway" && env.API_IMAGE === undefined ? { API_IMAGE: await testApiImage() } : {};
  return launch(name, { ...image, ...(await testTlsEnv(name, env)), ...env }, {}, options);
}

/** MESH_TLS_DIR with the run's test certificates of `name`, unless `env` sets MESH_INSECURE=1 or its own MESH_TLS_* files. */
async function testTlsEnv(name: string, env: Record<string, string>): Promise<Record<string, string>> {
  const ownTls = env.MESH_INSECURE === "1" || Object.keys(env).some((k) => k.startsWith("MESH_TLS_"));
  return ownTls ? {} : { MESH_TLS_DIR: await testCredentialDir(name) };
}

let apiImage: Promise<string> | undefined;

/** The contracts' buf image, built once per test process into a temporary folder. */
export function testApiImage(): Promise<string> {
  apiImage ??= buildApiImage(path.join(mkdtempSync(path.join(os.tmpdir(), "meshwork-api-image-")), "api.binpb"));
  return apiImage;
}

/**
 * Starts the built main of `name` from a `make build` output folder (its
 * dist/), with plain node and no tsx, as a deployment runs it; otherwise as
 * `startService`.
 */
export async function startBuiltService(dist: string, name: string, env: Record<string, string>): Promise<ServiceProcess> {
  return launch(name, { ...(await testTlsEnv(name, env)), ...env }, {}, { dist });
}

const startLimitMs = 90_000;

function launch(
  name: string,
  env: Record<string, string>,
  overrides: Record<string, string>,
  options: StartServiceOptions & { readonly dist?: string },
): Promise<ServiceProcess> {
  const { dist } = options;
  const relative = name === "gateway" ? path.join("gateway", "main") : path.join("services", name, "main");
  const args = dist === undefined ? ["--import", "tsx", path.join(root, `${relative}.ts`)] : [path.join(dist, `${relative}.js`)];
  const command =
    options.fileLimit === undefined ? { command: process.execPath, args } : withFileLimit(options.fileLimit, process.execPath, args);
  const child = spawn(command.command, command.args, {
    cwd: dist === undefined ? root : path.dirname(dist),
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env, ...overrides },
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<ServiceExit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let serving = false;
  return new Promise((resolve, reject) => {
    // A bound for a broken start, not a measure of speed: tsx compiles the
    // main on first start, which takes tens of seconds on a loaded 2-core CI machine.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within ${startLimitMs / 1000} s: ${stderr}`));
    }, startLimitMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (!serving) {
        reject(new Error(`${name} exited with ${code} before serving: ${stderr}`));
      }
    });
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === "serving" && typeof entry.url === "string") {
        clearTimeout(timer);
        serving = true;
        const url = entry.url;
        resolve({
          name,
          child,
          url,
          probeUrl: url.replace(/^https:/, "http:"),
          address: url.replace(/^https?:\/\//, ""),
          logs,
          stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill("SIGTERM");
            }
            return exited.then(({ code }) => code);
          },
          async kill() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill("SIGKILL");
            }
            await exited;
          },
          exited,
          async restart(more = {}) {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill("SIGTERM");
            }
            await exited;
            return launch(name, env, { ...more, PORT: new URL(url).port }, options);
          },
        });
      }
    });
  });
}
