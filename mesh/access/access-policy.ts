import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { customerIdHeader } from "../customer-identity.js";
import { failure } from "../errors.js";
import type { Peer } from "../identity/peer.js";
import { declaredCallers } from "./declared-callers.js";

interface MethodAccess {
  readonly path: string;
  /** Any peer, cleartext included: grpc.health.v1, for probes. */
  readonly open: boolean;
  /** Any verified mesh identity: reflection. */
  readonly anyIdentity: boolean;
  readonly services: ReadonlySet<string>;
  readonly operators: boolean;
  readonly assertCustomer: ReadonlySet<string>;
}

/** Services anyone may call, cleartext included: Kubernetes' gRPC probe has no TLS. */
const openPackages = ["grpc.health.v1."];
/** Services any mesh identity may call whatever the contract says: tools list services with them. */
const anyIdentityPackages = ["grpc.reflection.v1.", "grpc.reflection.v1alpha."];

/**
 * Who may call what, compiled once from the contracts of the services a
 * server serves (see declared-callers.ts): deny by default. `check` answers a
 * call with the error to refuse it with, or undefined to let it through.
 */
export class AccessPolicy {
  private readonly methods = new Map<DescMethod, MethodAccess>();

  constructor(services: readonly DescService[]) {
    for (const service of services) {
      const open = openPackages.some((p) => service.typeName.startsWith(p));
      const anyIdentity = anyIdentityPackages.some((p) => service.typeName.startsWith(p));
      for (const method of service.methods) {
        const declared = declaredCallers(method);
        const path = `${service.typeName}/${method.name}`;
        const notCallers = declared.assertCustomer.filter((name) => !declared.services.includes(name));
        if (notCallers.length > 0) {
          throw new Error(`${path}: assert_customer names ${notCallers.join(", ")}, which are not among its callers`);
        }
        this.methods.set(method, {
          path,
          open,
          anyIdentity,
          services: new Set(declared.services),
          operators: declared.operators,
          assertCustomer: new Set(declared.assertCustomer),
        });
      }
    }
  }

  /**
   * Why `peer` may not make this call, or undefined. Unauthenticated (the
   * peer's reason) for a connection without a valid mesh identity, or whose
   * certificate has expired since its handshake; PermissionDenied
   * CALLER_NOT_ALLOWED for an identity the contract does not name;
   * PermissionDenied CUSTOMER_ASSERTION_NOT_ALLOWED for x-customer-id from a
   * caller not allowed to assert it. The caller learns the method and its
   * own identity, nothing of the policy.
   */
  check(method: DescMethod, peer: Peer, assertsCustomer: boolean, now = Date.now()): ConnectError | undefined {
    const access = this.methods.get(method);
    if (access === undefined) {
      return failure(Code.PermissionDenied, "CALLER_NOT_ALLOWED", `${method.parent.typeName}/${method.name}: no access declared`);
    }
    if (access.open) {
      return undefined;
    }
    if (!peer.verified) {
      return failure(Code.Unauthenticated, peer.reason, `${access.path}: ${peer.detail}`, { metadata: { method: access.path } });
    }
    if (now >= peer.notAfter) {
      return failure(
        Code.Unauthenticated,
        "CERTIFICATE_EXPIRED",
        `${access.path}: the caller's certificate (${peer.id.uri}) expired at ${new Date(peer.notAfter).toISOString()}`,
        { metadata: { method: access.path } },
      );
    }
    if (access.anyIdentity) {
      return undefined;
    }
    const allowed = peer.id.kind === "operator" ? access.operators : access.services.has(peer.id.name);
    if (!allowed) {
      return failure(Code.PermissionDenied, "CALLER_NOT_ALLOWED", `${peer.id.uri} may not call ${access.path}`, {
        metadata: { method: access.path },
      });
    }
    if (assertsCustomer && (peer.id.kind !== "service" || !access.assertCustomer.has(peer.id.name))) {
      return failure(
        Code.PermissionDenied,
        "CUSTOMER_ASSERTION_NOT_ALLOWED",
        `${peer.id.uri} may not assert ${customerIdHeader} on ${access.path}`,
        { metadata: { method: access.path } },
      );
    }
    return undefined;
  }
}
