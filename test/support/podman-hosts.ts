// Hosts for the multi-host tests: containers from the Meshwork image on a
// podman bridge network of their own, each with its own address in
// 198.18.0.0/15 (the benchmarking range; nothing leaves this machine) and
// DNS by name and by network alias (aardvark-dns), as a headless Service
// resolves: `inventory` answers with the address of every inventory host.
// Faults act on a host's own network namespace from outside (nsenter with the
// machine's nft), since the image has no shell and no tools.
//
// podman runs here as root with runc, cgroupfs and default_ulimits = [] (a
// containers.conf of our own through CONTAINERS_CONF).
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface HostSpec {
  /** Container and host name, e.g. "inventory-2". */
  readonly name: string;
  /** DNS names shared with other hosts (a headless Service's name), e.g. ["inventory"]. */
  readonly aliases?: readonly string[];
  /** The last octet of its address in the network's /24 (the first time the name starts; later starts get a new one). */
  readonly octet: number;
  /** The image's arguments: the main to run ("services/orders/main.js"). */
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  /** Host folders mounted read-write: container path -> host path. */
  readonly volumes?: Record<string, string>;
  /** Host files mounted read-only: container path -> host path. */
  readonly files?: Record<string, string>;
  /** Run this instead of node (e.g. a bind-mounted nats-server). */
  readonly entrypoint?: string;
}

export interface Host {
  readonly spec: HostSpec;
  readonly ip: string;
}

/** The podman tools and the image a multi-host test needs, checked before it starts. */
export async function checkPodman(): Promise<void> {
  for (const tool of ["podman", "runc", "nsenter", "nft"]) {
    await run("bash", ["-c", `command -v ${tool}`]).catch(() => {
      throw new Error(`the multi-host test needs ${tool} (scripts/system-packages.txt: make test installs it as root)`);
    });
  }
  if (process.getuid?.() !== 0) throw new Error("the multi-host test runs containers as root (CI runs as root)");
}

export class PodmanHosts {
  readonly hosts = new Map<string, Host>();
  /** Addresses given out: a host started again gets a new one, as a new pod does (podman may hold the old one a while). */
  private readonly used = new Set<number>();
  private nextOctet = 100;
  private constructor(
    readonly network: string,
    /** "198.19.7" for 198.19.7.0/24. */
    readonly prefix: string,
    readonly image: string,
    private readonly confDir: string,
  ) {}

  /** A new network of its own, named `name`, in a free /24 of 198.18.0.0/15. */
  static async create(name: string, image: string): Promise<PodmanHosts> {
    const confDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-podman-"));
    writeFileSync(path.join(confDir, "containers.conf"), "[containers]\ndefault_ulimits = []\n");
    let lastError: unknown;
    for (let attempt = 0; attempt < 8; attempt++) {
      const prefix = `198.${18 + (attempt % 2)}.${1 + Math.floor(Math.random() * 250)}`;
      const hosts = new PodmanHosts(name, prefix, image, confDir);
      try {
        await hosts.podman(["network", "create", "--subnet", `${prefix}.0/24`, "--gateway", `${prefix}.1`, name]);
        return hosts;
      } catch (err) {
        lastError = err;
      }
    }
    throw new Error(`no free /24 in 198.18.0.0/15 for network ${name}: ${String(lastError)}`);
  }

  podman(args: readonly string[], timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
    return run("podman", ["--runtime", "runc", "--cgroup-manager=cgroupfs", ...args], {
      env: { ...process.env, CONTAINERS_CONF: path.join(this.confDir, "containers.conf") },
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  /** Starts a host (detached); see `waitHealthy` for when it serves. */
  async start(spec: HostSpec): Promise<Host> {
    const octet = this.used.has(spec.octet) ? this.nextOctet++ : spec.octet;
    if (octet > 254) throw new Error("no address left in the test network");
    this.used.add(octet);
    const ip = `${this.prefix}.${octet}`;
    const args = [
      "run", "-d", "--name", this.containerName(spec.name), "--hostname", spec.name,
      "--network", this.network, "--ip", ip,
      // Its own name and any shared one resolve to it on this network.
      ...[spec.name, ...(spec.aliases ?? [])].flatMap((a) => ["--network-alias", a]),
      // As Kubernetes runs it: read-only root, no capabilities, writable /tmp and data only.
      "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
      ...Object.entries(spec.volumes ?? {}).flatMap(([inside, outside]) => ["-v", `${outside}:${inside}`]),
      ...Object.entries(spec.files ?? {}).flatMap(([inside, outside]) => ["-v", `${outside}:${inside}:ro`]),
      ...Object.entries(spec.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      ...(spec.entrypoint === undefined ? [] : ["--entrypoint", spec.entrypoint]),
      this.image,
      ...spec.args,
    ];
    await this.podman(args);
    const host = { spec, ip };
    this.hosts.set(spec.name, host);
    return host;
  }

  containerName(name: string): string {
    return `${this.network}-${name}`;
  }

  /** Polls GET /healthz on the host's port until it answers 200 (bounded). */
  async waitHealthy(name: string, port: number, timeoutMs = 60_000): Promise<void> {
    const host = this.hosts.get(name)!;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`http://${host.ip}:${port}/healthz`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${name} did not answer /healthz on ${host.ip}:${port} within ${timeoutMs} ms:\n${await this.logs(name)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /**
   * Where each host's whole log is written when it is removed (and at
   * destroy), to read after a failed run; unset, logs go with the container.
   */
  logDir: string | undefined;

  private async saveLogs(name: string): Promise<void> {
    if (this.logDir === undefined) return;
    const { stdout, stderr } = await this.podman(["logs", this.containerName(name)]).catch((err: Error) => ({ stdout: "", stderr: err.message }));
    mkdirSync(this.logDir, { recursive: true });
    writeFileSync(path.join(this.logDir, `${name}.log`), stdout + stderr, { flag: "a" });
  }

  async logs(name: string): Promise<string> {
    const { stdout, stderr } = await this.podman(["logs", "--tail", "40", this.containerName(name)]).catch((err: Error) => ({ stdout: "", stderr: err.message }));
    return stdout + stderr;
  }

  /** The container's main process id on this machine, to enter its network namespace. */
  async pid(name: string): Promise<number> {
    const { stdout } = await this.podman(["inspect", "--format", "{{.State.Pid}}", this.containerName(name)]);
    return Number(stdout.trim());
  }

  /** Runs a command of this machine (nft) inside the host's network namespace. */
  async inNetns(name: string, command: readonly string[]): Promise<void> {
    await run("nsenter", ["-t", String(await this.pid(name)), "-n", ...command]);
  }

  /** The host dies: its process SIGKILLed and its link removed. */
  async kill(name: string): Promise<void> {
    await this.podman(["kill", "--signal", "KILL", this.containerName(name)]);
    await this.podman(["network", "disconnect", "-f", this.network, this.containerName(name)]).catch(() => undefined);
  }

  /** SIGTERM, then the process's own drain; resolves once it exited (podman stop's timeout is the grace period). */
  async stop(name: string, graceSeconds = 20): Promise<void> {
    await this.podman(["stop", "-t", String(graceSeconds), this.containerName(name)]);
  }

  /** Removes a stopped host's container, so that its name can start again. */
  async remove(name: string): Promise<void> {
    await this.saveLogs(name);
    await this.podman(["rm", "-f", this.containerName(name)]);
    this.hosts.delete(name);
  }

  /** Every packet in and out of the host dropped (nftables in its namespace), until `heal`. */
  async partition(name: string): Promise<void> {
    const rules = [
      "table inet meshwork_partition {",
      "  chain in { type filter hook input priority 0; policy drop; }",
      "  chain out { type filter hook output priority 0; policy drop; }",
      "}",
    ].join("\n");
    const file = path.join(this.confDir, `partition-${name}.nft`);
    writeFileSync(file, rules);
    await this.inNetns(name, ["nft", "-f", file]);
  }

  async heal(name: string): Promise<void> {
    await this.inNetns(name, ["nft", "delete", "table", "inet", "meshwork_partition"]);
  }

  /** Removes every container and the network. */
  async destroy(): Promise<void> {
    for (const name of this.hosts.keys()) await this.saveLogs(name);
    const names = [...this.hosts.keys()].map((n) => this.containerName(n));
    if (names.length > 0) await this.podman(["rm", "-f", "-t", "0", ...names]).catch(() => undefined);
    await this.podman(["network", "rm", "-f", this.network]).catch(() => undefined);
    rmSync(this.confDir, { recursive: true, force: true });
  }
}
