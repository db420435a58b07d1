import { signDevToken } from "../../gateway/auth/index.js";
import { offeredRequests, type LoadStage } from "./load-schedule.js";
import { restMixKind } from "./rest-mix.js";

export interface RestockOptions {
  readonly gatewayUrl: string;
  /** The gateway's dev keys (DATA_DIR/auth), to sign an admin token. */
  readonly tokenDir: string;
  readonly skus: readonly string[];
  readonly stages: readonly LoadStage[];
  readonly runId: string;
}

/**
 * Adds enough stock for a run's orders (AdjustStock through the gateway, as an
 * admin), so that a long run measures the mesh rather than an empty shelf.
 * The adjustments are recorded as such: inventory's stock stays accounted for.
 */
export async function restock(options: RestockOptions): Promise<void> {
  const { gatewayUrl, tokenDir, skus, stages, runId } = options;
  let orders = 0;
  for (let i = 0; i < Math.ceil(offeredRequests(stages)); i++) {
    if (restMixKind(i) === "order") {
      orders++;
    }
  }
  const perSku = Math.min(100_000, Math.ceil((orders / skus.length) * 1.2) + 10);
  const admin = await signDevToken(tokenDir, { subject: "load-admin", scopes: ["meshwork:admin"] });
  for (const sku of skus) {
    const res = await fetch(`${gatewayUrl}/v1/inventory/items/${encodeURIComponent(sku)}:adjust`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ adjustmentId: `load-${runId}-${sku}`, delta: perSku, reason: "make load: stock for the run's orders" }),
    });
    if (!res.ok) {
      throw new Error(`restocking ${sku} failed: ${res.status} ${await res.text()}`);
    }
  }
}
