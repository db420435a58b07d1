import type { DescMessage, DescMethod, DescMethodStreaming, DescMethodUnary, DescService, MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client, type ContextValues, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { declaredCallers } from "../../mesh/access/declared-callers.js";
import { credentialFilesIn, writeCredentialFiles } from "../../mesh/identity/credential-files.js";
import { MeshCa, type IssueOptions } from "../../mesh/identity/mesh-ca.js";
import { checkServerIdentity } from "../../mesh/identity/server-identity.js";
import { defaultTrustDomain, workloadId, type IdentityKind } from "../../mesh/identity/spiffe-id.js";
import { WorkloadCredentials } from "../../mesh/identity/workload-credentials.js";
import { ClientFactory, customerIdHeader, type ClientFactoryOptions, type ClientTarget } from "../../mesh/index.js";
import { ResilienceEvents } from "../../mesh/resilience/resilience-events.js";
import type { BreakerSnapshot } from "../../mesh/resilience/circuit-breaker.js";

// One test CA per test process (mocha run), made on first use (~30 ms), and
// one directory of credential files per identity, made once: suites share
// them, so the run mints a handful of certificates, not one per case.

let ca: Promise<MeshCa> | undefined;
let root: string | undefined;
const dirs = new Map<string, Promise<string>>();

/** The run's test CA (trust domain meshwork.local). */
export function testCa(): Promise<MeshCa> {
  return (ca ??= MeshCa.create(defaultTrustDomain));
}

function tempRoot(): string {
  if (root === undefined) {
    const made = mkdtempSync(path.join(os.tmpdir(), "meshwork-test-tls-"));
    root = made;
    process.once("exit", () => rmSync(made, { recursive: true, force: true }));
  }
  return root;
}

export interface TestIdentityOptions extends IssueOptions {
  /** Default: "service". */
  readonly kind?: IdentityKind;
  /** Another CA (e.g. to be refused as an unknown issuer). Default: the run's test CA. */
  readonly ca?: MeshCa;
}

/**
 * A directory with tls.crt, tls.key and ca.crt for `name`, issued by the test
 * CA (valid 24 h unless `options` say otherwise). Without options the same
 * directory is returned every time; with options a new one is made.
 */
export function testCredentialDir(name: string, options: TestIdentityOptions = {}): Promise<string> {
  const fresh = Object.keys(options).some((k) => k !== "kind");
  const key = `${options.kind ?? "service"}/${name}`;
  const existing = fresh ? undefined : dirs.get(key);
  if (existing !== undefined) {
    return existing;
  }
  const made = (async () => {
    const issuer = options.ca ?? (await testCa());
    const credentials = await issuer.issue(workloadId(issuer.trustDomain, options.kind ?? "service", name), {
      ttlMs: 24 * 3600_000,
      ...options,
    });
    const dir = mkdtempSync(path.join(tempRoot(), `${name}-`));
    writeCredentialFiles(dir, credentials);
    return dir;
  })();
  if (!fresh) {
    dirs.set(key, made);
  }
  return made;
}

/** Loaded credentials of `name`, for an in-process server or client; close them after. */
export async function testCredentials(name: string, options: TestIdentityOptions = {}): Promise<WorkloadCredentials> {
  return new WorkloadCredentials(credentialFilesIn(await testCredentialDir(name, options)));
}

/** The operator identity tests call operator-only methods with (as `make cert NAME=...` issues). */
export const testOperator = "test-operator";

/**
 * Typed clients for tests that call services directly, as ClientFactory
 * makes them, over mTLS with test certificates. Each call goes out as a
 * caller the method's contract allows (meshwork.access.v1): the first
 * allowed to assert the customer when the call carries x-customer-id, else
 * the first named service, else an operator; health and reflection as the
 * gateway. Tests that check refusals make a ClientFactory with the identity
 * they want instead (`testCredentials`).
 */
export class TestClients {
  readonly events: ResilienceEvents;
  private readonly factories = new Map<string, Promise<ClientFactory>>();
  private readonly made: ClientFactory[] = [];
  private readonly credentials: WorkloadCredentials[] = [];
  private closed = false;

  constructor(private readonly options: Omit<ClientFactoryOptions, "tls"> = {}) {
    this.events = options.events ?? new ResilienceEvents();
  }

  client<S extends DescService>(service: S, target: string | ClientTarget): Client<S> {
    return createClient(service, this.transportFor(target));
  }

  /** A transport to `target` that calls each method as a caller its contract allows. */
  transportFor(target: string | ClientTarget): Transport {
    const inner = async (method: DescMethod, header: HeadersInit | undefined): Promise<Transport> =>
      (await this.factory(callerFor(method, header))).transportFor(target);
    return {
      async unary<I extends DescMessage, O extends DescMessage>(
        method: DescMethodUnary<I, O>,
        signal: AbortSignal | undefined,
        timeoutMs: number | undefined,
        header: HeadersInit | undefined,
        input: MessageInitShape<I>,
        contextValues?: ContextValues,
      ): Promise<UnaryResponse<I, O>> {
        return (await inner(method, header)).unary(method, signal, timeoutMs, header, input, contextValues);
      },
      async stream<I extends DescMessage, O extends DescMessage>(
        method: DescMethodStreaming<I, O>,
        signal: AbortSignal | undefined,
        timeoutMs: number | undefined,
        header: HeadersInit | undefined,
        input: AsyncIterable<MessageInitShape<I>>,
        contextValues?: ContextValues,
      ): Promise<StreamResponse<I, O>> {
        return (await inner(method, header)).stream(method, signal, timeoutMs, header, input, contextValues);
      },
    };
  }

  /** The breakers of every identity's factory for this target. */
  breakerStates(target?: string): BreakerSnapshot[] {
    return this.made.flatMap((f) => f.breakerStates(target));
  }

  close(): void {
    this.closed = true;
    for (const factory of this.made) {
      factory.close();
    }
    for (const credentials of this.credentials) {
      credentials.close();
    }
  }

  private factory(caller: Caller): Promise<ClientFactory> {
    const key = `${caller.kind}/${caller.name}`;
    let factory = this.factories.get(key);
    if (factory === undefined) {
      factory = (async () => {
        const tls = await testCredentials(caller.name, { kind: caller.kind });
        if (this.closed) {
          tls.close();
          throw new Error("TestClients: closed");
        }
        this.credentials.push(tls);
        const made = new ClientFactory({ ...this.options, events: this.events, tls });
        this.made.push(made);
        return made;
      })();
      this.factories.set(key, factory);
    }
    return factory;
  }
}

interface Caller {
  readonly kind: IdentityKind;
  readonly name: string;
}

function callerFor(method: DescMethod, header: HeadersInit | undefined): Caller {
  const declared = declaredCallers(method);
  const assertsCustomer = header !== undefined && new Headers(header).has(customerIdHeader);
  const name = (assertsCustomer ? declared.assertCustomer[0] : undefined) ?? declared.services[0];
  if (name !== undefined) {
    return { kind: "service", name };
  }
  return declared.operators ? { kind: "operator", name: testOperator } : { kind: "service", name: "gateway" };
}

/** A caller's PEM files and what clients need of them, for clients tests build themselves. */
export interface TestTls {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** connect-node's `nodeOptions` (HTTP/1.1 https or HTTP/2 sessions): this certificate, the bundle, any mesh service as server. */
  readonly nodeOptions: { cert: string; key: string; ca: string; checkServerIdentity: (host: string, cert: import("node:tls").PeerCertificate) => Error | undefined };
  /** @grpc/grpc-js channel credentials and options for the same. */
  readonly grpcJs: { credentials: import("@grpc/grpc-js").ChannelCredentials; channelOptions: import("@grpc/grpc-js").ChannelOptions };
}

/** The test identity `name` (a service unless `kind` says operator) as PEM files and client options. */
export async function testTls(name: string, kind: IdentityKind = "service"): Promise<TestTls> {
  const dir = await testCredentialDir(name, kind === "operator" ? { kind } : {});
  const files = credentialFilesIn(dir);
  const [certPem, keyPem, caPem] = [files.certFile, files.keyFile, files.caFile].map((f) => readFileSync(f, "utf8")) as [string, string, string];
  const check = checkServerIdentity(defaultTrustDomain, undefined);
  return {
    certPem,
    keyPem,
    caPem,
    ...files,
    nodeOptions: { cert: certPem, key: keyPem, ca: caPem, checkServerIdentity: check },
    grpcJs: {
      credentials: grpc.credentials.createSsl(Buffer.from(caPem), Buffer.from(keyPem), Buffer.from(certPem), { checkServerIdentity: check }),
      channelOptions: { "grpc.ssl_target_name_override": defaultTrustDomain },
    },
  };
}

/** The test identity allowed to make this call (see TestClients), as PEM files and client options. */
export function testTlsFor(method: DescMethod, header?: HeadersInit): Promise<TestTls> {
  const caller = callerFor(method, header);
  return testTls(caller.name, caller.kind);
}
