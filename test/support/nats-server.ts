import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { natsServerConfig } from "../../mesh/events/nats-server-config.js";
import { credentialFilesIn, type CredentialFiles } from "../../mesh/identity/credential-files.js";
import { defaultTrustDomain } from "../../mesh/identity/spiffe-id.js";
import { meshworkNatsPlan } from "../../scripts/support/nats-plan.js";
import { freePort } from "./free-port.js";
import { testCredentialDir } from "./test-identity.js";

/** The Debian package's binary (installed by .ci/run). */
const natsServerBinary = "/usr/sbin/nats-server";

/** A real nats-server with JetStream, for tests. */
export interface NatsServer {
  /** e.g. tls://127.0.0.1:4222 (nats:// with `cleartext`) */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Stops the server (SIGTERM to its PID, SIGKILL after 5 s); its store stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same store (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Stops it and removes the store directory if this helper made it. */
  dispose(): Promise<void>;
}

export interface StartNatsServerOptions {
  /** JetStream's store. Default: a new temporary directory, removed by dispose(). */
  readonly storeDir?: string;
  /**
   * An open server without TLS or users (nats://). Default: as the mesh runs
   * it, the config natsServerConfig generates (TLS, each workload's test
   * certificate its credential, the demo's subject permissions; tls://).
   */
  readonly cleartext?: boolean;
  /**
   * The server's own certificate (spiffe://<trustDomain>/service/nats), from
   * the CA its clients' certificates chain to. Default: the run's test CA's.
   */
  readonly tls?: { readonly files: CredentialFiles; readonly trustDomain: string };
}

/** Starts nats-server with JetStream on a free 127.0.0.1 port and resolves once it accepts connections. */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const ownDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? mkdtempSync(path.join(os.tmpdir(), "meshwork-nats-"));
  const port = await freePort();
  let configFile: string | undefined;
  if (options.cleartext !== true) {
    const { files, trustDomain } = options.tls ?? { files: credentialFilesIn(await testCredentialDir("nats")), trustDomain: defaultTrustDomain };
    configFile = path.join(storeDir, "nats-server.conf");
    writeFileSync(configFile, natsServerConfig({ host: "127.0.0.1", port, storeDir, ...files, trustDomain, plan: meshworkNatsPlan }));
  }
  let child: ChildProcess | undefined = await launchNatsServer(port, storeDir, undefined, configFile);

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    process.kill(running.pid!, "SIGTERM");
    const timer = setTimeout(() => process.kill(running.pid!, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    url: `${configFile === undefined ? "nats" : "tls"}://127.0.0.1:${port}`,
    port,
    storeDir,
    stop,
    async restart() {
      await stop();
      child = await launchNatsServer(port, storeDir, undefined, configFile);
    },
    async dispose() {
      await stop();
      if (ownDir) {
        rmSync(storeDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Spawns nats-server -js on 127.0.0.1:`port` with its store in `storeDir`
 * (pinned to CPU `core` with taskset when given), or with `configFile`
 * (which says all of that itself), and resolves once it accepts
 * connections; kills it if it has not within 10 s.
 */
export async function launchNatsServer(port: number, storeDir: string, core?: number, configFile?: string): Promise<ChildProcess> {
  const command =
    configFile === undefined
      ? [natsServerBinary, "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir]
      : [natsServerBinary, "-c", configFile];
  const [file, ...args] = core === undefined ? command : ["taskset", "-c", String(core), ...command];
  const child = spawn(file!, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null) {
        process.kill(child.pid!, "SIGKILL");
      }
      throw new Error(`nats-server did not start on port ${port}: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return child;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
