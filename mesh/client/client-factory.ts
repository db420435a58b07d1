import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

/** The wire protocol a client speaks to its target. */
export type ClientProtocol = "grpc" | "connect";

/** Where a service is and how to reach it. */
export interface ClientTarget {
  /** e.g. "http://127.0.0.1:50051". */
  readonly baseUrl: string;
  /**
   * Default: "grpc". Both run over one reused HTTP/2 connection per target;
   * gRPC is served by the fast path on Meshwork servers.
   */
  readonly protocol?: ClientProtocol;
}

export interface ClientFactoryOptions {
  /** Client interceptors for every call, outermost first (Connect's order). */
  readonly interceptors?: readonly Interceptor[];
}

/**
 * The one way a Meshwork process gets a client for another service. A caller
 * names the service and its target; the factory owns transports and HTTP/2
 * sessions (one per target, shared by every client of it) and is the seam
 * where resilience (deadlines, breakers, retries) is added for every caller at
 * once. Close it on shutdown.
 */
export class ClientFactory {
  private readonly transports = new Map<string, Transport>();
  private readonly sessions = new Map<string, Http2SessionManager>();

  constructor(private readonly options: ClientFactoryOptions = {}) {}

  client<S extends DescService>(service: S, target: string | ClientTarget): Client<S> {
    return createClient(service, this.transport(typeof target === "string" ? { baseUrl: target } : target));
  }

  /** Closes every HTTP/2 session; clients made by this factory stop working. */
  close(): void {
    for (const session of this.sessions.values()) {
      session.abort();
    }
    this.sessions.clear();
    this.transports.clear();
  }

  private transport(target: ClientTarget): Transport {
    const protocol = target.protocol ?? "grpc";
    const key = `${protocol} ${target.baseUrl}`;
    let transport = this.transports.get(key);
    if (transport === undefined) {
      let sessionManager = this.sessions.get(target.baseUrl);
      if (sessionManager === undefined) {
        sessionManager = new Http2SessionManager(target.baseUrl);
        this.sessions.set(target.baseUrl, sessionManager);
      }
      const common = {
        baseUrl: target.baseUrl,
        httpVersion: "2" as const,
        sessionManager,
        interceptors: [...(this.options.interceptors ?? [])],
      };
      transport =
        protocol === "grpc"
          ? createGrpcTransport(common)
          : createConnectTransport({ ...common, useBinaryFormat: true });
      this.transports.set(key, transport);
    }
    return transport;
  }
}
