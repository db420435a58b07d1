import { ConnectError } from "@connectrpc/connect";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import type { WorkloadCredentials } from "../../mesh/identity/workload-credentials.js";
import { ClientFactory, codeLabel } from "../../mesh/index.js";
import type { SendRequest } from "./open-loop.js";

export interface GrpcTargetOptions {
  /** The inventory service's base URL: https://127.0.0.1:50051 (mTLS, with `tls`) or http:// for a mesh without mTLS. */
  readonly url: string;
  /** The identity presented over mTLS (an operator's); none for an http:// URL. */
  readonly tls?: WorkloadCredentials;
  /** The SKUs GetItem asks for, in turn. */
  readonly skus: readonly string[];
  /** A call's deadline. Default: 10 s. */
  readonly timeoutMs?: number;
}

/**
 * A service straight over gRPC, past the gateway: InventoryService GetItem
 * (two calls in three) and ListItems, through the mesh's own client on its
 * default transport, with no breaker and no retries, so every call's outcome
 * is the service's. The outcome is "ok" or the code's name in snake case.
 */
export function grpcTarget(options: GrpcTargetOptions): { send: SendRequest; close(): Promise<void> } {
  const clients = new ClientFactory(options.tls === undefined ? {} : { tls: options.tls });
  const client = clients.client(InventoryService, { name: "inventory", endpoints: options.url, breaker: false, retry: false, bulkhead: false });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const send: SendRequest = async (index) => {
    try {
      if (index % 3 === 2) {
        await client.listItems({ pageSize: 10 }, { timeoutMs });
      } else {
        await client.getItem({ sku: options.skus[index % options.skus.length]! }, { timeoutMs });
      }
      return "ok";
    } catch (err) {
      return codeLabel(ConnectError.from(err).code);
    }
  };
  return { send, close: async () => clients.close() };
}

