// The browser code of the gateway's web page: the catalogue over Connect with a
// generated client, orders over the gateway's REST/JSON routes. Bundled in
// memory by bundle.ts and served as /app.js; no framework, plain DOM.
import { fromJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { InventoryService, type Item } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import {
  CancelOrderResponseSchema,
  CancelReason,
  ListOrdersResponseSchema,
  OrderState,
  PlaceOrderResponseSchema,
  type Order,
} from "../../gen/meshwork/orders/v1/orders_pb.js";

const TOKEN_KEY = "meshwork.token";
const MAX_CATALOGUE_PAGES = 20;

/** An error as the page shows it: a lower-case code and a message. */
class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

// ---------------------------------------------------------------------------
// Elements

function byId<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page is missing #${id}`);
  return el;
}

function elements() {
  return {
    error: byId("error", HTMLElement),
    catalogue: byId("catalogue", HTMLElement),
    catalogueRows: byId("catalogue-rows", HTMLTableSectionElement),
    catalogueStatus: byId("catalogue-status", HTMLElement),
    token: byId("token", HTMLInputElement),
    orderForm: byId("order-form", HTMLFormElement),
    orderSku: byId("order-sku", HTMLSelectElement),
    orderQuantity: byId("order-quantity", HTMLInputElement),
    orderCard: byId("order-card", HTMLSelectElement),
    orderSubmit: byId("order-submit", HTMLButtonElement),
    orderStatus: byId("order-status", HTMLElement),
    orderResult: byId("order-result", HTMLElement),
    orderId: byId("order-id", HTMLElement),
    orderState: byId("order-state", HTMLElement),
    orderTotal: byId("order-total", HTMLElement),
    orderCancelDetail: byId("order-cancel-detail", HTMLElement),
    orderCancelDetailLabel: byId("order-cancel-detail-label", HTMLElement),
    myOrders: byId("my-orders", HTMLElement),
    ordersRefresh: byId("orders-refresh", HTMLButtonElement),
    ordersStatus: byId("orders-status", HTMLElement),
    ordersList: byId("orders-list", HTMLUListElement),
  };
}

type Elements = ReturnType<typeof elements>;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

// ---------------------------------------------------------------------------
// Errors

/** "not_found": the Connect spelling of a code, as the gateway writes it in its JSON errors. */
function codeName(code: Code): string {
  return Code[code] === undefined ? "unknown" : codeToString(code);
}

const codeByHttpStatus: Record<number, Code> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  408: Code.DeadlineExceeded,
  409: Code.Aborted,
  412: Code.FailedPrecondition,
  429: Code.ResourceExhausted,
  499: Code.Canceled,
  501: Code.Unimplemented,
  502: Code.Unavailable,
  503: Code.Unavailable,
  504: Code.DeadlineExceeded,
};

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ConnectError) return new ApiError(codeName(err.code), err.rawMessage || "no message");
  if (err instanceof TypeError) return new ApiError("unavailable", `could not reach the gateway (${err.message})`);
  return new ApiError("unknown", err instanceof Error ? err.message : String(err));
}

/** The page's one alert region: at most one message per area, in area order. */
class Alerts {
  private readonly messages = new Map<string, string>();
  constructor(private readonly el: HTMLElement) {}

  set(area: string, err: unknown): void {
    const e = toApiError(err);
    this.messages.set(area, `${e.code}: ${e.message}`);
    this.render();
  }

  clear(area: string): void {
    if (this.messages.delete(area)) this.render();
  }

  private render(): void {
    this.el.textContent = [...this.messages.values()].join("\n");
  }
}

// ---------------------------------------------------------------------------
// REST

function authHeader(token: string): Record<string, string> {
  return token === "" ? {} : { Authorization: `Bearer ${token}` };
}

/** The error a failed REST call answered with: JSON {code, message, details} when the gateway wrote it. */
async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  const fallbackCode = codeName(codeByHttpStatus[res.status] ?? (res.status >= 500 ? Code.Internal : Code.Unknown));
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === "object" && body !== null) {
      const { code, message } = body as { code?: unknown; message?: unknown };
      const name =
        typeof code === "string" && code !== "" ? code.toLowerCase()
        : typeof code === "number" && Code[code] !== undefined ? codeName(code)
        : fallbackCode;
      return new ApiError(name, typeof message === "string" && message !== "" ? message : `HTTP ${res.status}`);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(fallbackCode, `HTTP ${res.status}${text.trim() === "" ? "" : ` ${text.trim().slice(0, 200)}`}`);
}

async function rest<Desc extends DescMessage>(
  schema: Desc,
  method: "GET" | "POST",
  path: string,
  token: string,
  body?: unknown,
): Promise<MessageShape<Desc>> {
  const headers: Record<string, string> = { ...authHeader(token), accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw await errorFrom(res);
  let json: JsonValue;
  try {
    json = (await res.json()) as JsonValue;
  } catch {
    throw new ApiError("internal", `the gateway answered ${path} with a body that is not JSON`);
  }
  return fromJson(schema, json, { ignoreUnknownFields: true });
}

// ---------------------------------------------------------------------------
// Formatting

function formatMoney(minor: bigint, currency: string): string {
  const locale = document.documentElement.lang || undefined;
  try {
    const fmt = new Intl.NumberFormat(locale, { style: "currency", currency });
    const digits = fmt.resolvedOptions().maximumFractionDigits ?? 2;
    return fmt.format(Number(minor) / 10 ** digits);
  } catch {
    return `${minor.toString()} ${currency} (minor units)`;
  }
}

function stateName(state: OrderState): string {
  return OrderState[state] ?? `STATE_${state}`;
}

function cancelText(order: Order): string {
  const reason = order.cancelReason === CancelReason.UNSPECIFIED ? "" : (CancelReason[order.cancelReason] ?? "");
  return [reason, order.cancelDetail].filter((s) => s !== "").join(": ");
}

// ---------------------------------------------------------------------------
// The page

class Page {
  private readonly inventory = createClient(InventoryService, createConnectTransport({ baseUrl: location.origin }));
  private readonly alerts: Alerts;
  private catalogueItems: Item[] = [];
  private ordersGeneration = 0;

  constructor(private readonly el: Elements) {
    this.alerts = new Alerts(el.error);
  }

  start(): void {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved !== null) this.el.token.value = saved;
    this.el.token.addEventListener("change", () => {
      const token = this.token();
      // eslint-disable-next-line security/detect-possible-timing-attacks -- compares with the empty string, not with a secret
      if (token === "") sessionStorage.removeItem(TOKEN_KEY);
      else sessionStorage.setItem(TOKEN_KEY, token);
      void this.loadOrders(false);
    });
    this.el.orderForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.placeOrder();
    });
    this.el.ordersRefresh.addEventListener("click", () => void this.loadOrders(true));
    void this.loadCatalogue();
    void this.loadOrders(false);
  }

  /** The pasted token, without a "Bearer " prefix if one was pasted too. */
  private token(): string {
    return this.el.token.value.trim().replace(/^bearer\s+/i, "");
  }

  // Catalogue -----------------------------------------------------------------

  private async loadCatalogue(): Promise<void> {
    const { catalogue, catalogueStatus } = this.el;
    catalogue.dataset["state"] = "loading";
    catalogue.setAttribute("aria-busy", "true");
    try {
      const items: Item[] = [];
      let pageToken = "";
      for (let page = 0; page < MAX_CATALOGUE_PAGES; page++) {
        const res = await this.inventory.listItems({ pageSize: 100, pageToken });
        items.push(...res.items);
        pageToken = res.nextPageToken;
        if (pageToken === "") break;
      }
      this.catalogueItems = items;
      this.renderCatalogue();
      catalogue.dataset["state"] = "loaded";
      catalogueStatus.textContent = items.length === 1 ? "1 item." : `${items.length} items.`;
      this.alerts.clear("catalogue");
    } catch (err) {
      catalogue.dataset["state"] = "error";
      catalogueStatus.textContent = "The catalogue could not be loaded.";
      this.alerts.set("catalogue", err);
    } finally {
      catalogue.removeAttribute("aria-busy");
      this.updateSubmit();
    }
  }

  private renderCatalogue(): void {
    const { catalogueRows, orderSku } = this.el;
    const selected = orderSku.value;
    catalogueRows.replaceChildren(
      ...this.catalogueItems.map((item) =>
        h(
          "tr",
          { "data-testid": "catalogue-row", "data-sku": item.sku },
          h("td", { "data-testid": "item-sku" }, h("code", {}, item.sku)),
          h("td", { "data-testid": "item-name" }, item.name),
          h("td", { class: "num", "data-testid": "item-price" }, formatMoney(item.priceMinor, item.currencyCode)),
          h("td", { class: "num", "data-testid": "item-available" }, String(item.available)),
        ),
      ),
    );
    orderSku.replaceChildren(
      ...this.catalogueItems.map((item) => {
        const label = `${item.sku} — ${item.name} (${formatMoney(item.priceMinor, item.currencyCode)})`;
        return h("option", { value: item.sku }, item.available > 0 ? label : `${label}, out of stock`);
      }),
    );
    if (this.catalogueItems.some((item) => item.sku === selected)) orderSku.value = selected;
  }

  private updateSubmit(): void {
    const ready = this.catalogueItems.length > 0 && this.el.orderForm.dataset["state"] !== "submitting";
    this.el.orderSku.disabled = this.catalogueItems.length === 0;
    this.el.orderSubmit.disabled = !ready;
  }

  // Placing an order ------------------------------------------------------------

  private async placeOrder(): Promise<void> {
    const { orderForm, orderSku, orderQuantity, orderCard, orderStatus } = this.el;
    if (orderForm.dataset["state"] === "submitting") return;
    this.alerts.clear("order");
    orderStatus.textContent = "";
    const sku = orderSku.value;
    const quantity = Number(orderQuantity.value);
    if (sku === "") {
      this.alerts.set("order", new ApiError("invalid_argument", "pick an item to order"));
      orderSku.focus();
      return;
    }
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
      this.alerts.set("order", new ApiError("invalid_argument", "quantity must be a whole number from 1 to 1000"));
      orderQuantity.focus();
      return;
    }
    orderForm.dataset["state"] = "submitting";
    orderForm.setAttribute("aria-busy", "true");
    orderStatus.textContent = "Placing your order…";
    this.updateSubmit();
    try {
      const res = await rest(PlaceOrderResponseSchema, "POST", "/v1/orders", this.token(), {
        requestId: crypto.randomUUID(),
        lines: [{ sku, quantity }],
        cardToken: orderCard.value,
      });
      if (res.order === undefined) throw new ApiError("internal", "the gateway answered without an order");
      this.showOrder(res.order);
      orderForm.dataset["state"] = "done";
      orderStatus.textContent = `Order ${stateName(res.order.state).toLowerCase()}.`;
    } catch (err) {
      orderForm.dataset["state"] = "error";
      orderStatus.textContent = "The order was not placed.";
      this.alerts.set("order", err);
    } finally {
      orderForm.removeAttribute("aria-busy");
      this.updateSubmit();
    }
    // Stock and the customer's orders changed (or may have): show them again.
    await Promise.all([this.loadOrders(false), this.loadCatalogue()]);
  }

  private showOrder(order: Order): void {
    const { orderResult, orderId, orderState, orderTotal, orderCancelDetail, orderCancelDetailLabel } = this.el;
    const state = stateName(order.state);
    orderId.textContent = order.orderId;
    orderState.textContent = state;
    orderState.className = `state-${state}`;
    orderResult.dataset["state"] = state;
    orderTotal.textContent = formatMoney(order.totalMinor, order.currencyCode);
    const detail = order.state === OrderState.CANCELLED ? cancelText(order) : "";
    orderCancelDetail.textContent = detail;
    orderCancelDetail.hidden = detail === "";
    orderCancelDetailLabel.hidden = detail === "";
    orderResult.hidden = false;
  }

  // My orders -------------------------------------------------------------------

  /** Loads the first page of the customer's orders; without a token only when asked to. */
  private async loadOrders(explicit: boolean): Promise<void> {
    const { myOrders, ordersStatus, ordersList } = this.el;
    const token = this.token();
    const generation = ++this.ordersGeneration;
    if (token === "" && !explicit) {
      myOrders.dataset["state"] = "idle";
      ordersStatus.textContent = "Paste a token to see your orders.";
      ordersList.replaceChildren();
      this.alerts.clear("orders");
      return;
    }
    myOrders.dataset["state"] = "loading";
    myOrders.setAttribute("aria-busy", "true");
    try {
      const res = await rest(ListOrdersResponseSchema, "GET", "/v1/orders", token);
      if (generation !== this.ordersGeneration) return;
      ordersList.replaceChildren(...res.orders.map((order) => this.orderItem(order)));
      ordersStatus.textContent =
        res.orders.length === 0 ? "No orders yet."
        : res.nextPageToken === "" ? `${res.orders.length} order${res.orders.length === 1 ? "" : "s"}.`
        : `Your ${res.orders.length} newest orders.`;
      myOrders.dataset["state"] = "loaded";
      this.alerts.clear("orders");
    } catch (err) {
      if (generation !== this.ordersGeneration) return;
      myOrders.dataset["state"] = "error";
      ordersStatus.textContent = "Your orders could not be loaded.";
      ordersList.replaceChildren();
      this.alerts.set("orders", err);
    } finally {
      if (generation === this.ordersGeneration) myOrders.removeAttribute("aria-busy");
    }
  }

  private orderItem(order: Order): HTMLLIElement {
    const state = stateName(order.state);
    const lines = order.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", ");
    const li = h(
      "li",
      { "data-testid": "orders-item", "data-order-id": order.orderId, "data-state": state },
      h("code", { "data-testid": "orders-item-id" }, order.orderId),
      h("span", { class: `state-${state}`, "data-testid": "orders-item-state" }, state),
      h("span", { "data-testid": "orders-item-total" }, formatMoney(order.totalMinor, order.currencyCode)),
      h("span", {}, lines),
    );
    if (order.createdAt !== undefined) {
      const at = timestampDate(order.createdAt);
      li.append(h("time", { datetime: at.toISOString() }, at.toLocaleString()));
    }
    if (order.state === OrderState.CANCELLED) {
      const detail = cancelText(order);
      if (detail !== "") li.append(h("span", { "data-testid": "orders-item-cancel-detail" }, detail));
    }
    if (order.state === OrderState.PENDING && !order.cancelRequested) {
      const button = h("button", { type: "button", "data-testid": "orders-item-cancel" }, "Cancel");
      button.setAttribute("aria-label", `Cancel order ${order.orderId}`);
      button.addEventListener("click", () => void this.cancelOrder(order.orderId, button));
      li.append(button);
    }
    return li;
  }

  private async cancelOrder(orderId: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    this.alerts.clear("cancel");
    try {
      await rest(CancelOrderResponseSchema, "POST", `/v1/orders/${encodeURIComponent(orderId)}:cancel`, this.token(), {});
    } catch (err) {
      this.alerts.set("cancel", err);
      button.disabled = false;
      return;
    }
    await this.loadOrders(true);
  }
}

function main(): void {
  new Page(elements()).start();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main, { once: true });
else main();
