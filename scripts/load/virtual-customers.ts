import { signDevToken } from "../../gateway/auth/index.js";
import type { VirtualCustomer } from "./rest-mix.js";

/** `count` virtual customers (load-customer-1, ...), each with a token signed by the gateway's dev key in `tokenDir`. */
export function virtualCustomers(tokenDir: string, count: number): Promise<VirtualCustomer[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const id = `load-customer-${i + 1}`;
      return { id, token: await signDevToken(tokenDir, { subject: id, scopes: [] }) };
    }),
  );
}
