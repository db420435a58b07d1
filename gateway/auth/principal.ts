/** Who a verified bearer token speaks for. */
export interface Principal {
  /** The token's `sub`: the customer identity the gateway forwards upstream as x-customer-id. */
  readonly subject: string;
  /** The token's space-separated `scope` claim; empty when it has none. */
  readonly scopes: ReadonlySet<string>;
}
