import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { callers as callersOption, default_callers as defaultCallersOption } from "../../gen/meshwork/access/v1/access_pb.js";

/** Who a method's contract lets call it (`meshwork.access.v1.callers`, or its service's `default_callers`). */
export interface DeclaredCallers {
  /** Workload names that may call. */
  readonly services: readonly string[];
  /** Whether any operator identity may call. */
  readonly operators: boolean;
  /** Of `services`, those that may assert the customer (x-customer-id). */
  readonly assertCustomer: readonly string[];
  /** Where the declaration is: on the method, its service's default, or nowhere (nobody may call). */
  readonly declaredOn: "method" | "service" | "none";
}

/** One method's declaration, by its RPC path. */
export interface AccessDeclaration extends DeclaredCallers {
  /** e.g. "meshwork.payments.v1.PaymentService/AuthorizePayment". */
  readonly method: string;
}

const nobody: DeclaredCallers = { services: [], operators: false, assertCustomer: [], declaredOn: "none" };

/** What the contract declares for `method`: its own callers, else its service's default, else nobody. */
export function declaredCallers(method: DescMethod): DeclaredCallers {
  if (hasOption(method, callersOption)) {
    const c = getOption(method, callersOption);
    return { services: [...c.services], operators: c.operators, assertCustomer: [...c.assertCustomer], declaredOn: "method" };
  }
  if (hasOption(method.parent, defaultCallersOption)) {
    const c = getOption(method.parent, defaultCallersOption);
    return { services: [...c.services], operators: c.operators, assertCustomer: [...c.assertCustomer], declaredOn: "service" };
  }
  return nobody;
}

/**
 * Every method's declared callers, in descriptor order: what serve()
 * enforces, what the contract gate compares, and what deployment tooling
 * reads (e.g. to derive network policies from who calls whom).
 */
export function accessDeclarations(services: readonly DescService[]): AccessDeclaration[] {
  return services.flatMap((service) =>
    service.methods.map((method) => ({ method: `${service.typeName}/${method.name}`, ...declaredCallers(method) })),
  );
}
