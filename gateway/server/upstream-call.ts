import type { DescMethodUnary, DescService, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type Transport } from "@connectrpc/connect";
import type { Context } from "@opentelemetry/api";
import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "pino";
import { bulkheadParty, customerIdPattern, type ClientFactory, type ClientTarget } from "../../mesh/index.js";
import { traceContextValues } from "../../mesh/telemetry/index.js";
import { authorize } from "../auth/authorize.js";
import type { AccessPolicy } from "../auth/access-policy.js";
import type { Principal } from "../auth/principal.js";
import { forwardedHeaders } from "../http/forwarded-headers.js";
import { maskUpstreamError } from "../http/masked-codes.js";

/** A service the gateway fronts, and where its endpoints are. */
export interface Upstream {
  readonly service: DescService;
  readonly target: ClientTarget;
}

/**
 * A service the gateway answers in its own process (its FaultService),
 * through `local`, behind the same auth, policy and rate limit as an upstream.
 */
export interface LocalService {
  readonly service: DescService;
  readonly local: Transport;
}

/** What the gateway routes to: an upstream, or a service of its own. */
export type FrontedService = Upstream | LocalService;

export interface UpstreamCallerOptions {
  readonly upstreams: readonly FrontedService[];
  readonly clients: ClientFactory;
  readonly policy: AccessPolicy;
  /** Request headers forwarded to services as metadata. */
  readonly forwardHeaders: readonly string[];
  readonly logger: Logger;
}

/** What one call needs from the edge, whatever protocol it came in on. */
export interface EdgeCall {
  readonly method: DescMethodUnary;
  readonly request: Message;
  readonly headers: IncomingHttpHeaders;
  readonly requestId: string;
  /** Who the verified bearer token speaks for (edge-admission.ts); undefined when anonymous. */
  readonly principal: Principal | undefined;
  /** The client's address (edge-admission.ts): the bulkhead party of an anonymous caller. */
  readonly peer: string;
  /** The edge request's span context: the upstream call's CLIENT span is its child. */
  readonly traceContext?: Context;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * The gateway's one way to call a service, shared by REST routes and the
 * Connect/gRPC-Web passthrough: apply the access policy to the caller the
 * edge admitted (its token verified and its rate limit taken before the body
 * was read: edge-admission.ts), then call through the mesh client (deadline,
 * breaker, retry, bulkhead, balancing) with the verified subject as the
 * customer identity. The caller (the subject, or the client's address when
 * anonymous) is the call's bulkhead party, so one caller holds at most its
 * share of the calls in flight to an upstream (mesh/resilience/bulkhead.ts).
 */
export class UpstreamCaller {
  private readonly transports = new Map<string, Transport>();

  constructor(private readonly options: UpstreamCallerOptions) {
    for (const upstream of options.upstreams) {
      this.transports.set(
        upstream.service.typeName,
        "local" in upstream ? upstream.local : options.clients.transportFor(upstream.target, upstream.service),
      );
    }
  }

  async call(call: EdgeCall): Promise<Message> {
    const { method } = call;
    const methodName = `${method.parent.typeName}/${method.name}`;
    const requirement = this.options.policy.requirementFor(methodName);
    const verified = authorize(requirement, call.principal);
    // The subject is asserted as the customer only on customer methods: an
    // admin's call (AdjustStock) is made for no customer, and a service
    // refuses an x-customer-id its contract does not let the gateway assert.
    const customer = requirement === "customer" ? verified : undefined;
    if (customer !== undefined && !customerIdPattern.test(customer.subject)) {
      throw new ConnectError("the token's subject cannot be used as a customer id", Code.PermissionDenied);
    }

    const party = call.principal === undefined ? `ip:${call.peer}` : `sub:${call.principal.subject}`;

    const transport = this.transports.get(method.parent.typeName);
    if (transport === undefined) {
      throw new ConnectError(`${method.parent.typeName} is not served here`, Code.NotFound);
    }
    const headers = forwardedHeaders(call.headers, this.options.forwardHeaders, call.requestId, customer?.subject);
    try {
      const contextValues = (call.traceContext === undefined ? createContextValues() : traceContextValues(call.traceContext)).set(bulkheadParty, party);
      const response = await transport.unary(method, call.signal, call.timeoutMs, headers, call.request, contextValues);
      return response.message;
    } catch (err) {
      throw maskUpstreamError(ConnectError.from(err));
    }
  }
}
