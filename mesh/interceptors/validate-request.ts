import { create } from "@bufbuild/protobuf";
import { createValidator, type ValidatorOptions } from "@bufbuild/protovalidate";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { violationsToProto } from "@bufbuild/protovalidate";
import type { ServerInterceptor } from "../server/unary-call.js";

/**
 * Validates every request against the protovalidate rules in its contract
 * before the handler runs. A request that breaks a rule fails with
 * InvalidArgument; the message lists the violations and the details carry them
 * as buf.validate.Violations, so clients can point at the field. A rule that
 * cannot be evaluated (a broken contract) is the server's fault: Internal.
 */
export function validateRequest(options: ValidatorOptions = {}): ServerInterceptor {
  const validator = createValidator(options);
  return (next) => async (request, context) => {
    const result = validator.validate(context.method.input, request);
    if (result.kind === "invalid") {
      const [violations] = violationsToProto(result.violations);
      throw new ConnectError(
        `invalid request: ${result.violations.map((v) => v.toString()).join("; ")}`,
        Code.InvalidArgument,
        undefined,
        [{ desc: ViolationsSchema, value: create(ViolationsSchema, violations) }],
      );
    }
    if (result.kind === "error") {
      throw new ConnectError("request validation failed", Code.Internal, undefined, undefined, result.error);
    }
    return next(request, context);
  };
}
