import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A gateway failure whose HTTP status is more specific than its code's row in
 * the table (405, 413, 431). Everything else is a plain ConnectError.
 */
export class GatewayError extends ConnectError {
  constructor(
    message: string,
    code: Code,
    readonly httpStatus: number,
    readonly responseHeaders: Record<string, string> = {},
  ) {
    super(message, code);
  }
}

/**
 * Whether `err` is a GatewayError. Not `instanceof`: ConnectError defines
 * Symbol.hasInstance to recognise any ConnectError-shaped value, and
 * subclasses inherit it, so every ConnectError would pass.
 */
export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof ConnectError && typeof (err as Partial<GatewayError>).httpStatus === "number";
}
