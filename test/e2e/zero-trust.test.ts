import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import { expect } from "chai";
import { execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { GetItemRequestSchema, GetItemResponseSchema, InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { NotificationService } from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { credentialFilesIn, writeCredentialFiles } from "../../mesh/identity/credential-files.js";
import { CredentialRenewer } from "../../mesh/identity/credential-renewer.js";
import { MeshCa } from "../../mesh/identity/mesh-ca.js";
import { defaultTrustDomain, workloadId } from "../../mesh/identity/spiffe-id.js";
import { WorkloadCredentials } from "../../mesh/identity/workload-credentials.js";
import { ClientFactory, reasonOf, type TransportKind } from "../../mesh/index.js";
import { connect as connectNats } from "nats";
import { checkServerIdentity } from "../../mesh/identity/server-identity.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { startService, type ServiceProcess } from "../support/service-process.js";
import { testCa, testCredentialDir, testTls, type TestTls } from "../support/test-identity.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const buf = path.join(root, "node_modules/.bin/buf");
/** Debian's python3-grpcio lives under the system Python, not a pyenv one on PATH. */
const python = "/usr/bin/python3";

type Protocol = "gRPC" | "Connect" | "gRPC-Web";
const protocols: Protocol[] = ["gRPC", "Connect", "gRPC-Web"];

/** A connect-node transport of `protocol` to `baseUrl`, with these TLS options (none: cleartext). */
function transport(protocol: Protocol, baseUrl: string, nodeOptions: tls.ConnectionOptions | undefined): Transport {
  const options = nodeOptions === undefined ? {} : { nodeOptions };
  switch (protocol) {
    case "gRPC":
      return createGrpcTransport({ baseUrl, ...options });
    case "Connect":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", ...options });
    case "gRPC-Web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", ...options });
  }
}

interface Outcome {
  readonly code: string;
  readonly reason?: string | undefined;
  readonly message?: string;
}

async function outcome(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    await call();
    return { code: "OK" };
  } catch (err) {
    const error = ConnectError.from(err);
    return { code: Code[error.code], reason: reasonOf(error), message: error.rawMessage };
  }
}

/**
 * Zero trust inside the mesh, against real processes: every service refuses
 * cleartext, foreign and expired certificates, callers its contract does not
 * name and customer assertions from callers not allowed to make them, each
 * with its code and reason over gRPC, Connect and gRPC-Web; allowed calls
 * work, from Python's grpcio and buf curl too; probes answer without a
 * certificate and nothing else does; rotation under load fails no call; an
 * expired, unrenewed process is refused and says why.
 */
describe("zero trust: mTLS and the contract's callers, real processes", function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  /** Client TLS options with a certificate of another CA, and with one of the mesh's CA that expired. */
  let foreign: tls.ConnectionOptions;
  let expired: tls.ConnectionOptions;
  const as: Record<string, TestTls> = {};

  before(async () => {
    mesh = await startMesh();
    for (const name of ["orders", "gateway", "notifications"]) {
      as[name] = await testTls(name);
    }
    // A certificate of another CA (same trust domain and name), and one of the
    // mesh's CA that expired an hour ago.
    const otherCa = await MeshCa.create(defaultTrustDomain);
    foreign = withCertificateFrom(await testCredentialDir("orders", { ca: otherCa }));
    expired = withCertificateFrom(await testCredentialDir("orders", { notBefore: new Date(Date.now() - 7200_000), ttlMs: 1000 }));
  });
  after(async () => {
    await mesh?.stop();
  });

  /** Client options presenting the certificate in `dir`, verifying the server with the mesh's bundle. */
  function withCertificateFrom(dir: string): tls.ConnectionOptions {
    const files = credentialFilesIn(dir);
    return { ...as.orders!.nodeOptions, cert: readFileSync(files.certFile, "utf8"), key: readFileSync(files.keyFile, "utf8") };
  }

  const services = () =>
    [
      { name: "inventory", proc: mesh.inventory, call: (t: Transport) => createClient(InventoryService, t).getItem({ sku: "MUG-001" }) },
      { name: "payments", proc: mesh.payments, call: (t: Transport) => createClient(PaymentService, t).getPayment({ paymentId: "pay_x" }) },
      {
        name: "orders",
        proc: mesh.orders,
        call: (t: Transport) => createClient(OrderService, t).listOrders({}, { headers: { "x-customer-id": "alice" } }),
      },
      {
        name: "notifications",
        proc: mesh.notifications,
        call: (t: Transport) =>
          createClient(NotificationService, t).listNotifications({ orderId: "ord_x" }, { headers: { "x-customer-id": "alice" } }),
      },
    ] as const;

  for (const protocol of protocols) {
    it(`refuses cleartext, no certificate, a foreign CA and an expired certificate on every service (${protocol})`, async () => {
      for (const { name, proc, call } of services()) {
        const cases: [string, string, tls.ConnectionOptions | undefined, string][] = [
          ["cleartext", proc.probeUrl, undefined, "MTLS_REQUIRED"],
          ["no client certificate", proc.url, { ca: as.orders!.caPem, checkServerIdentity: () => undefined }, "CLIENT_CERTIFICATE_REQUIRED"],
          ["another CA's certificate", proc.url, foreign, "CERTIFICATE_UNKNOWN_ISSUER"],
          ["an expired certificate", proc.url, expired, "CERTIFICATE_EXPIRED"],
        ];
        for (const [what, url, nodeOptions, reason] of cases) {
          const got = await outcome(() => call(transport(protocol, url, nodeOptions)));
          expect({ ...got, message: undefined }, `${name}, ${what}: ${got.message}`).to.deep.equal({ code: "Unauthenticated", reason, message: undefined });
        }
      }
    });

    it(`refuses mesh identities the contract does not name, and customer assertions by others (${protocol})`, async () => {
      const cases: [string, () => Promise<unknown>, string, string][] = [
        [
          "notifications -> PaymentService/AuthorizePayment",
          () =>
            createClient(PaymentService, transport(protocol, mesh.payments.url, as.notifications!.nodeOptions)).authorizePayment({
              idempotencyKey: `zt-${protocol}`,
              amountMinor: 100n,
              currencyCode: "USD",
              cardToken: "tok_visa",
            }),
          "PermissionDenied",
          "CALLER_NOT_ALLOWED",
        ],
        [
          "orders -> InventoryService/AdjustStock",
          () =>
            createClient(InventoryService, transport(protocol, mesh.inventory.url, as.orders!.nodeOptions)).adjustStock({
              sku: "MUG-001",
              delta: 1000,
              adjustmentId: `zt-${protocol}`,
              reason: "zero trust test",
            }),
          "PermissionDenied",
          "CALLER_NOT_ALLOWED",
        ],
        [
          "gateway -> PaymentService/GetPayment",
          () => createClient(PaymentService, transport(protocol, mesh.payments.url, as.gateway!.nodeOptions)).getPayment({ paymentId: "pay_x" }),
          "PermissionDenied",
          "CALLER_NOT_ALLOWED",
        ],
        [
          "orders asserting x-customer-id on InventoryService/GetItem",
          () =>
            createClient(InventoryService, transport(protocol, mesh.inventory.url, as.orders!.nodeOptions)).getItem(
              { sku: "MUG-001" },
              { headers: { "x-customer-id": "mallory" } },
            ),
          "PermissionDenied",
          "CUSTOMER_ASSERTION_NOT_ALLOWED",
        ],
      ];
      for (const [what, call, code, reason] of cases) {
        const got = await outcome(call);
        expect({ code: got.code, reason: got.reason }, `${what}: ${got.message}`).to.deep.equal({ code, reason });
        // The caller learns the method and its own identity, nothing of the policy.
        expect(got.message).to.match(/^spiffe:\/\/meshwork\.local\/service\/[a-z]+ may not (call|assert x-customer-id on) meshwork\./);
      }
      // A refused call writes nothing.
      const db = new Database(path.join(mesh.dataDir, "payments.db"), { readonly: true });
      try {
        expect(db.prepare("SELECT count(*) AS n FROM payments WHERE idempotency_key = ?").get(`zt-${protocol}`)).to.deep.equal({ n: 0 });
      } finally {
        db.close();
      }
    });

    it(`serves allowed callers (${protocol})`, async () => {
      const item = await createClient(InventoryService, transport(protocol, mesh.inventory.url, as.orders!.nodeOptions)).getItem({ sku: "MUG-001" });
      expect(item.item?.sku).to.equal("MUG-001");
      const orders = await createClient(OrderService, transport(protocol, mesh.orders.url, as.gateway!.nodeOptions)).listOrders(
        {},
        { headers: { "x-customer-id": "alice" } },
      );
      expect(orders.orders).to.be.an("array");
    });
  }

  it("answers probes and metrics without a client certificate, and nothing else on the same port", async () => {
    for (const proc of [mesh.inventory, mesh.payments, mesh.orders, mesh.notifications]) {
      for (const probe of ["/healthz", "/readyz", "/metrics"]) {
        expect((await fetch(`${proc.probeUrl}${probe}`)).status, `${proc.name} ${probe} in cleartext`).to.equal(200);
        expect(await httpsStatus(`${proc.url}${probe}`, as.orders!.caPem), `${proc.name} ${probe} over TLS without a certificate`).to.equal(200);
      }
      const plain = new ClientFactory();
      try {
        expect((await plain.client(Health, proc.probeUrl).check({})).status).to.equal(HealthCheckResponse_ServingStatus.SERVING);
      } finally {
        plain.close();
      }
      expect((await fetch(`${proc.probeUrl}/v1/inventory/items`)).status).to.equal(404);
      // Reflection needs a mesh identity.
      const listed = await run(buf, ["curl", "--http2-prior-knowledge", "--protocol", "grpc", "--list-services", proc.probeUrl]).then(
        () => "listed",
        (err: { stderr?: string }) => err.stderr ?? "",
      );
      expect(listed).to.match(/unauthenticated|not authenticated/i);
    }
  });

  it("counts the refusals above by reason on each service's /metrics", async () => {
    const metrics = async (proc: ServiceProcess) => (await fetch(`${proc.probeUrl}/metrics`)).text();
    const inventory = await metrics(mesh.inventory);
    expect(inventory).to.match(/^meshwork_server_refused_total\{reason="MTLS_REQUIRED",service="meshwork\.inventory\.v1\.InventoryService",method="GetItem"\} [1-9]/m);
    expect(inventory).to.match(/^meshwork_server_refused_total\{reason="CALLER_NOT_ALLOWED",service="meshwork\.inventory\.v1\.InventoryService",method="AdjustStock"\} [1-9]/m);
    expect(inventory).to.match(/^meshwork_server_refused_total\{reason="CUSTOMER_ASSERTION_NOT_ALLOWED",.*method="GetItem"\} [1-9]/m);
    for (const reason of ["CLIENT_CERTIFICATE_REQUIRED", "CERTIFICATE_UNKNOWN_ISSUER", "CERTIFICATE_EXPIRED"]) {
      expect(inventory).to.match(new RegExp(`^meshwork_server_tls_peers_refused_total\\{reason="${reason}"\\} [1-9]`, "m"));
    }
  });

  it("interoperates with Python's grpcio (C core) over mTLS, and refuses it without a certificate", async () => {
    const request = toBinary(GetItemRequestSchema, create(GetItemRequestSchema, { sku: "MUG-001" }));
    const args = [path.join(root, "test/support/python/grpcio_call.py"), mesh.inventory.address, `/${InventoryService.typeName}/GetItem`, "inventory.meshwork.local", as.orders!.caFile];
    const allowed = await pythonCall([...args, as.orders!.certFile, as.orders!.keyFile], request);
    expect(allowed.code, allowed.output).to.equal(0);
    expect(fromBinary(GetItemResponseSchema, Buffer.from(allowed.output.trim(), "hex")).item?.sku).to.equal("MUG-001");
    const denied = await pythonCall([...args, as.gateway!.certFile, as.gateway!.keyFile], toBinary(GetItemRequestSchema, create(GetItemRequestSchema, { sku: "MUG-001" })), {
      "x-customer-id": "alice",
    });
    expect(denied.output).to.match(/^error PERMISSION_DENIED .*may not assert x-customer-id/m);
    const anonymous = await pythonCall(args, request);
    expect(anonymous.output).to.match(/^error UNAUTHENTICATED .*no client certificate/m);
  });

  it("interoperates with buf curl over mTLS with an operator certificate", async () => {
    const operator = await testTls("test-operator", "operator");
    const curl = ["curl", "--protocol", "grpc", "--cert", operator.certFile, "--key", operator.keyFile, "--cacert", operator.caFile];
    const { stdout } = await run(buf, [...curl, "--servername", "inventory.meshwork.local", "-d", '{"page_size":2}', `${mesh.inventory.url}/${InventoryService.typeName}/ListItems`]);
    expect((JSON.parse(stdout) as { items: unknown[] }).items).to.have.length(2);
    // Operators may read the catalogue, not place orders.
    const refused = await run(buf, [
      ...curl,
      "--servername",
      "orders.meshwork.local",
      "-H",
      "x-customer-id: alice",
      "-d",
      "{}",
      `${mesh.orders.url}/${OrderService.typeName}/ListOrders`,
    ]).then(
      () => "",
      (err: { stderr?: string }) => err.stderr ?? "",
    );
    expect(refused).to.include("permission_denied").and.to.include("may not call meshwork.orders.v1.OrderService/ListOrders");
  });
});

describe("zero trust: rotation and expiry, real processes", function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const procs: ServiceProcess[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });
  const tempDir = (prefix: string): string => {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  it("rotates the server's and the clients' certificates 5 times under load (4 callers, 3 transports) with 0 failed calls", async () => {
    const ca = await testCa();
    const serverDir = tempDir("meshwork-zt-payments-");
    const clientDir = tempDir("meshwork-zt-orders-");
    const ttlMs = 3600_000;
    const server = await CredentialRenewer.start({ ca, id: workloadId(ca.trustDomain, "service", "payments"), dir: serverDir, ttlMs });
    const client = await CredentialRenewer.start({ ca, id: workloadId(ca.trustDomain, "service", "orders"), dir: clientDir, ttlMs });
    const payments = await startService("payments", { MESH_TLS_DIR: serverDir, DATA_DIR: tempDir("meshwork-zt-data-") });
    procs.push(payments);
    const credentials = new WorkloadCredentials(credentialFilesIn(clientDir), { pollIntervalMs: 200 });
    const clients = new ClientFactory({ tls: credentials });
    let clientRotations = 0;
    credentials.on("change", () => clientRotations++);
    const target = (transportKind: TransportKind) => ({ name: "payments", endpoints: payments.url, transport: transportKind, retry: false as const, breaker: false as const });
    const stop = new AbortController();
    const counts = { answered: 0, failed: [] as string[] };
    const caller = async (kind: TransportKind): Promise<void> => {
      const stub = clients.client(PaymentService, target(kind));
      while (!stop.signal.aborted) {
        try {
          await stub.getPayment({ paymentId: "pay_missing" });
          counts.failed.push("answered OK for a payment that does not exist");
        } catch (err) {
          const error = ConnectError.from(err);
          if (error.code === Code.NotFound) {
            counts.answered++;
          } else {
            counts.failed.push(`${kind}: ${Code[error.code]} ${error.rawMessage}`);
          }
        }
      }
    };
    const callers = (["grpc", "connect", "grpc-js", "grpc"] as const).map(caller);
    try {
      for (let i = 0; i < 5; i++) {
        await sleep(300);
        await server.issue();
        await sleep(300);
        await client.issue();
      }
      await waitFor(() => clientRotations >= 5 && renewedLines(payments) >= 5, "5 rotations seen by both sides");
      const answeredAtLastRotation = counts.answered;
      await waitFor(() => counts.answered > answeredAtLastRotation + 20, "calls after the last rotation");
    } finally {
      stop.abort();
      await Promise.all(callers);
      clients.close();
      credentials.close();
      server.stop();
      client.stop();
    }
    expect(counts.failed).to.deep.equal([]);
    expect(counts.answered).to.be.greaterThan(50);
    // New connections get the server's latest certificate.
    const latest = readFileSync(credentialFilesIn(serverDir).certFile, "utf8");
    expect(await presentedFingerprint(payments.address, credentials)).to.equal(new X509Certificate(latest).fingerprint256);
  });

  it("refuses a process whose certificate expired unrenewed, and its /readyz says why", async () => {
    const ca = await testCa();
    const dir = tempDir("meshwork-zt-expiring-");
    writeCredentialFiles(dir, await ca.issue(workloadId(ca.trustDomain, "service", "payments"), { ttlMs: 4_000 }));
    const payments = await startService("payments", { MESH_TLS_DIR: dir, DATA_DIR: tempDir("meshwork-zt-data-") });
    procs.push(payments);
    const notAfter = new WorkloadCredentials(credentialFilesIn(dir)).current.notAfter.getTime();
    await sleep(Math.max(0, notAfter - Date.now() + 500));
    const ready = await fetch(`${payments.probeUrl}/readyz`);
    expect(ready.status).to.equal(503);
    const report = (await ready.json()) as { failed: string[]; checks: Record<string, { detail?: string }> };
    expect(report.failed).to.include("identity");
    expect(report.checks.identity?.detail).to.match(/expired at .* and was not renewed/);
    const ordersTls = new WorkloadCredentials(credentialFilesIn(await testCredentialDir("orders")));
    const clients = new ClientFactory({ tls: ordersTls });
    try {
      const got = await outcome(() =>
        clients.client(PaymentService, { name: "payments", endpoints: payments.url, retry: false, breaker: false }).getPayment({ paymentId: "p" }),
      );
      expect({ code: got.code, reason: got.reason }, got.message).to.deep.equal({ code: "Unavailable", reason: "SERVER_CERTIFICATE_EXPIRED" });
      expect(got.message).to.match(/^payments at https:\/\/127\.0\.0\.1:\d+: the server's certificate has expired/);
    } finally {
      clients.close();
      ordersTls.close();
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > giveUp) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(50);
  }
}

function renewedLines(proc: ServiceProcess): number {
  return proc.logs.filter((l) => l.msg === "mTLS identity renewed").length;
}

/** The status of a GET over TLS that presents no client certificate. */
function httpsStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", reject);
  });
}

/** The SHA-256 fingerprint of the certificate a fresh TLS connection to `address` is shown. */
function presentedFingerprint(address: string, credentials: WorkloadCredentials): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host, port: Number(port), secureContext: credentials.current.secureContext, checkServerIdentity: () => undefined, ALPNProtocols: ["h2"] },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      },
    );
    socket.on("error", reject);
  });
}

function pythonCall(args: string[], request: Uint8Array, metadata: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [...args, ...Object.entries(metadata).flatMap(([k, v]) => ["--metadata", `${k}=${v}`])], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (err) => reject(new Error(`${python} (Debian's python3-grpcio) could not run: ${err.message}`)));
    child.on("exit", (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(Buffer.from(request));
  });
}

describe("zero trust: NATS JetStream with the mesh's certificates and subject permissions", function () {
  this.timeout(60_000);
  let nats: NatsServer;
  before(async () => (nats = await startNatsServer()));
  after(async () => nats?.dispose());

  const natsTls = async (name: string) => {
    const files = credentialFilesIn(await testCredentialDir(name));
    return { certFile: files.certFile, keyFile: files.keyFile, caFile: files.caFile, checkServerIdentity: checkServerIdentity(defaultTrustDomain, "nats") };
  };
  /** Publishes one message as `name` and says whether the server refused it. */
  const publishAs = async (name: string, subject: string): Promise<string> => {
    const nc = await connectNats({ servers: nats.url, tls: (await natsTls(name)) as never, reconnect: false });
    const refused = new Promise<string>((resolve) => {
      void (async () => {
        for await (const status of nc.status()) {
          if (status.type === "error") {
            resolve(String(status.data));
          }
        }
      })();
    });
    nc.publish(subject, new Uint8Array([1]));
    await nc.flush();
    const outcome = await Promise.race([refused, new Promise<string>((resolve) => setTimeout(() => resolve("accepted"), 1_000))]);
    await nc.close();
    return outcome;
  };

  it("refuses a client without credentials, and one of another CA", async () => {
    const anonymous = await connectNats({ servers: nats.url, tls: { caFile: (await natsTls("orders")).caFile, checkServerIdentity: () => undefined } as never, reconnect: false }).then(
      (nc) => nc.close().then(() => "connected"),
      (err: Error) => err.message,
    );
    expect(anonymous).to.not.equal("connected");
    const otherCa = await MeshCa.create(defaultTrustDomain);
    const foreign = credentialFilesIn(await testCredentialDir("orders", { ca: otherCa }));
    const impostor = await connectNats({
      servers: nats.url,
      tls: { certFile: foreign.certFile, keyFile: foreign.keyFile, caFile: (await natsTls("orders")).caFile, checkServerIdentity: () => undefined } as never,
      reconnect: false,
    }).then(
      (nc) => nc.close().then(() => "connected"),
      (err: Error) => err.message,
    );
    expect(impostor).to.not.equal("connected");
  });

  it("lets orders publish order events, and refuses them from notifications", async () => {
    expect(await publishAs("orders", "orders.OrderPlaced")).to.equal("accepted");
    expect(await publishAs("notifications", "orders.OrderPlaced")).to.match(/permissions[ _]violation/i);
  });
});
