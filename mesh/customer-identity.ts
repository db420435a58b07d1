/**
 * How a customer's identity crosses the mesh: the gateway verifies a token
 * and puts its subject in this header; services trust it because only the
 * gateway faces clients. One rule for what an id may look like, so the
 * gateway never forwards one a service would refuse.
 */
export const customerIdHeader = "x-customer-id";

/** Customer ids: short and log-safe. */
export const customerIdPattern = /^[A-Za-z0-9._@-]{1,128}$/;
