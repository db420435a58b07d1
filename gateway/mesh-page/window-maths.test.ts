import { expect } from "chai";
import { parsePrometheusText } from "./prometheus-text.js";
import { addWindow, methodStats, readProcess, shortMethod, shortService, type MethodWindow } from "./mesh-series.js";
import { counterIncrease, histogramQuantile, ratePerSecond } from "./window-maths.js";

describe("window maths", () => {
  describe("counterIncrease and ratePerSecond", () => {
    it("takes the difference of a counter, or all of it after a reset or on first sight", () => {
      expect(counterIncrease(10, 25)).to.equal(15);
      expect(counterIncrease(10, 10)).to.equal(0);
      expect(counterIncrease(40, 6)).to.equal(6);
      expect(counterIncrease(undefined, 6)).to.equal(6);
      expect(ratePerSecond(15, 5)).to.equal(3);
      expect(ratePerSecond(15, 0)).to.equal(0);
    });
  });

  describe("histogramQuantile", () => {
    // Cumulative counts: 10 at or below 0.1, 30 at or below 0.2, 40 at or below 0.4, 40 in all.
    const buckets = [
      { le: 0.1, count: 10 },
      { le: 0.2, count: 30 },
      { le: 0.4, count: 40 },
      { le: Infinity, count: 40 },
    ];

    it("interpolates linearly inside the bucket holding the rank, as histogram_quantile does", () => {
      // rank 20: bucket (0.1, 0.2] holds ranks 10..30 -> 0.1 + 0.1 * (10 / 20)
      expect(histogramQuantile(0.5, buckets)).to.be.closeTo(0.15, 1e-12);
      // rank 4: first bucket starts at 0 -> 0.1 * 4 / 10
      expect(histogramQuantile(0.1, buckets)).to.be.closeTo(0.04, 1e-12);
      // rank 39.6: bucket (0.2, 0.4] holds 30..40 -> 0.2 + 0.2 * 9.6 / 10
      expect(histogramQuantile(0.99, buckets)).to.be.closeTo(0.392, 1e-12);
      expect(histogramQuantile(1, buckets)).to.be.closeTo(0.4, 1e-12);
    });

    it("answers the largest finite bound when the rank falls in +Inf, and sorts its input", () => {
      const tail = [
        { le: Infinity, count: 10 },
        { le: 0.5, count: 2 },
        { le: 0.25, count: 1 },
      ];
      expect(histogramQuantile(0.99, tail)).to.equal(0.5);
      expect(histogramQuantile(0.1, tail)).to.be.closeTo(0.25, 1e-12);
    });

    it("has no answer for an empty window or without a +Inf bucket, and is infinite beyond [0, 1]", () => {
      expect(histogramQuantile(0.5, buckets.map((b) => ({ ...b, count: 0 })))).to.equal(undefined);
      expect(histogramQuantile(0.5, buckets.slice(0, 3))).to.equal(undefined);
      expect(histogramQuantile(0.5, [])).to.equal(undefined);
      expect(histogramQuantile(-0.1, buckets)).to.equal(-Infinity);
      expect(histogramQuantile(1.5, buckets)).to.equal(Infinity);
    });

    it("keeps counts monotonic when a scrape raced an observation", () => {
      const racy = [
        { le: 0.1, count: 10 },
        { le: 0.2, count: 9 },
        { le: Infinity, count: 20 },
      ];
      // Treated as 10, 10, 20: rank 10 -> first bucket's top.
      expect(histogramQuantile(0.5, racy)).to.be.closeTo(0.1, 1e-12);
    });
  });

  describe("a window of two scrapes of the mesh's series", () => {
    const scrape = (ok: number, unavailable: number, buckets: [string, number][], breaker: number, transitions: number) =>
      readProcess(
        parsePrometheusText(
          [
            `meshwork_server_requests_total{service="meshwork.orders.v1.OrderService",method="PlaceOrder",code="ok"} ${ok}`,
            `meshwork_server_requests_total{service="meshwork.orders.v1.OrderService",method="PlaceOrder",code="unavailable"} ${unavailable}`,
            ...buckets.map(([le, n]) => `meshwork_server_request_duration_seconds_bucket{le="${le}",service="meshwork.orders.v1.OrderService",method="PlaceOrder"} ${n}`),
            `meshwork_server_requests_total{service="grpc.health.v1.Health",method="Check",code="ok"} 99`,
            `meshwork_client_requests_total{target="payments",service="meshwork.payments.v1.PaymentService",method="AuthorizePayment",code="unavailable"} ${unavailable}`,
            `meshwork_breaker_state{target="payments",method="meshwork.payments.v1.PaymentService/AuthorizePayment"} ${breaker}`,
            `meshwork_breaker_transitions_total{target="payments",method="meshwork.payments.v1.PaymentService/AuthorizePayment",to="open"} ${transitions}`,
            `meshwork_gateway_requests_total{protocol="rest",route="/v1/orders",method="POST",status="200",code="ok"} ${ok}`,
            `meshwork_gateway_requests_total{protocol="rest",route="/v1/orders",method="POST",status="503",code="unavailable"} ${unavailable}`,
          ].join("\n"),
        ).samples,
      );

    it("gives rate, error rate, p50 and p99 over the window, leaves out health checks, and reads breakers", () => {
      const before = scrape(100, 0, [["0.001", 50], ["0.01", 100], ["+Inf", 100]], 0, 0);
      // 5 s later: 40 more ok, 10 unavailable; of the 50 new calls 10 took <= 1 ms, 20 more <= 10 ms, 20 longer.
      const after = scrape(140, 10, [["0.001", 60], ["0.01", 130], ["+Inf", 150]], 2, 1);
      const windows = new Map<string, MethodWindow>();
      addWindow(windows, after, before, 5);
      const rows = [...windows.values()].map((w) => methodStats("orders", w));

      expect(rows.map((r) => `${r.kind} ${r.target} ${r.method}`).sort()).to.deep.equal([
        "client payments PaymentService/AuthorizePayment",
        "route  POST /v1/orders",
        "server  OrderService/PlaceOrder",
      ]);
      const placeOrder = rows.find((r) => r.method === "OrderService/PlaceOrder")!;
      expect(placeOrder.ratePerSecond).to.equal(10);
      expect(placeOrder.errorRate).to.equal(0.2);
      expect(placeOrder.errorsByCode).to.deep.equal({ unavailable: 10 });
      // rank 25 of 50: bucket (1 ms, 10 ms] holds ranks 10..30 -> 1 + 9 * 15/20 ms
      expect(placeOrder.p50Ms).to.be.closeTo(7.75, 1e-9);
      // rank 49.5 falls in +Inf -> 10 ms
      expect(placeOrder.p99Ms).to.be.closeTo(10, 1e-9);

      const authorize = rows.find((r) => r.kind === "client")!;
      expect(authorize.errorRate).to.equal(1);
      expect(authorize.ratePerSecond).to.equal(2);
      expect(authorize.p50Ms).to.equal(null);

      const route = rows.find((r) => r.kind === "route")!;
      expect(route.method).to.equal("POST /v1/orders");
      expect(route.errorsByCode).to.deep.equal({ unavailable: 10 });
      expect(route.errorRate).to.equal(0.2);

      expect([...after.breakers.values()]).to.deep.equal([
        { target: "payments", method: "PaymentService/AuthorizePayment", state: 2, transitions: 1 },
      ]);
    });

    it("sums a service's endpoints, and counts a restarted process's counters from zero", () => {
      const windows = new Map<string, MethodWindow>();
      addWindow(windows, scrape(30, 0, [["+Inf", 30]], 0, 0), scrape(10, 0, [["+Inf", 10]], 0, 0), 2);
      // The second endpoint restarted: its counters went down, so all 4 are new.
      addWindow(windows, scrape(4, 0, [["+Inf", 4]], 0, 0), scrape(500, 0, [["+Inf", 500]], 0, 0), 2);
      const placeOrder = methodStats("orders", [...windows.values()].find((w) => w.method === "OrderService/PlaceOrder")!);
      expect(placeOrder.ratePerSecond).to.equal(12);
      expect(placeOrder.errorRate).to.equal(0);
    });

    it("has no error rate and no latency for a method not called in the window", () => {
      const same = scrape(10, 0, [["0.001", 10], ["+Inf", 10]], 0, 0);
      const windows = new Map<string, MethodWindow>();
      addWindow(windows, same, same, 5);
      const placeOrder = methodStats("orders", [...windows.values()].find((w) => w.method === "OrderService/PlaceOrder")!);
      expect(placeOrder).to.include({ ratePerSecond: 0, errorRate: null, p50Ms: null, p99Ms: null });
    });
  });

  it("shortens names, keeping a version other than v1", () => {
    expect(shortService("meshwork.orders.v1.OrderService")).to.equal("OrderService");
    expect(shortService("meshwork.inventory.v2alpha1.InventoryService")).to.equal("InventoryService.v2alpha1");
    expect(shortMethod("meshwork.payments.v1.PaymentService/AuthorizePayment")).to.equal("PaymentService/AuthorizePayment");
  });
});
