// Shared by the benchmark servers (serving-target.ts) and bench/client-stack.ts,
// which must not import serving-target.ts itself (importing it runs a server).

/**
 * The SKU of the failure storm: a server kind that calls the shared
 * implementation (mesh, mesh-propagating, connect, grpc-js) fails half of the
 * GetItem calls for it with Unavailable, counted across all connections in a
 * fixed pseudo-random order, so that half of the attempts fail whatever the
 * concurrency and whether or not the client retries. Every other SKU is
 * answered as before. The raw canned server does not read requests and never
 * fails.
 */
export const stormSku = "STORM-1";
