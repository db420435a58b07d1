import { Code } from "@connectrpc/connect";
import { failure } from "./errors.js";

/**
 * How a customer's identity crosses the mesh: the gateway verifies a token
 * and puts its subject in this header; services trust it because only the
 * gateway faces clients. One rule for what an id may look like, so the
 * gateway never forwards one a service would refuse.
 */
export const customerIdHeader = "x-customer-id";

/** Customer ids: short and log-safe. */
export const customerIdPattern = /^[A-Za-z0-9._@-]{1,128}$/;

/**
 * The customer a service call is made for, from `customerIdHeader` in its
 * request headers. Missing: Unauthenticated (MISSING_CUSTOMER_ID), as no
 * verified token put it there; malformed: InvalidArgument (INVALID_CUSTOMER_ID).
 */
export function callingCustomerId(requestHeader: Headers): string {
  const customerId = requestHeader.get(customerIdHeader) ?? "";
  if (customerId === "") {
    throw failure(Code.Unauthenticated, "MISSING_CUSTOMER_ID", `missing ${customerIdHeader}`);
  }
  if (!customerIdPattern.test(customerId)) {
    throw failure(Code.InvalidArgument, "INVALID_CUSTOMER_ID", `${customerIdHeader} must match ${customerIdPattern.source}`);
  }
  return customerId;
}
