import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { InventoryService } from "../../gen/meshwork/inventory/v1/inventory_pb.js";
import { NotificationService } from "../../gen/meshwork/notifications/v1/notifications_pb.js";
import { OrderService } from "../../gen/meshwork/orders/v1/orders_pb.js";
import { PaymentService } from "../../gen/meshwork/payments/v1/payments_pb.js";
import { FaultService } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { contractServices } from "../../platform/catalogue/contract-services.js";
import { createAccessPolicy, defaultAccessPolicyFile, loadAccessPolicy } from "./access-policy.js";

const services = [InventoryService, OrderService];

describe("access policy", () => {
  describe("the shipped policy", () => {
    // Every service of the contracts (the gateway's upstreams, and any `make service` added since).
    let policy: ReturnType<typeof loadAccessPolicy>;
    before(async () => {
      policy = loadAccessPolicy(defaultAccessPolicyFile, await contractServices(path.resolve(import.meta.dirname, "../..")));
    });

    it("gives fault injection (GetFaults, SetFaults) to admins only", () => {
      for (const method of FaultService.methods) {
        expect(policy.requirementFor(`${FaultService.typeName}/${method.name}`), method.name).to.equal("admin");
      }
    });

    it("makes inventory reads public and stock adjustment admin-only", () => {
      expect(policy.requirementFor("meshwork.inventory.v1.InventoryService/GetItem")).to.equal("public");
      expect(policy.requirementFor("meshwork.inventory.v1.InventoryService/ListItems")).to.equal("public");
      expect(policy.requirementFor("meshwork.inventory.v1.InventoryService/AdjustStock")).to.equal("admin");
      expect(policy.requirementFor("meshwork.inventory.v2alpha1.InventoryService/GetItem")).to.equal("public");
      expect(policy.requirementFor("meshwork.inventory.v2alpha1.InventoryService/ListItems")).to.equal("public");
    });

    it("needs a customer token for every OrderService and NotificationService method", () => {
      for (const service of [OrderService, NotificationService]) {
        for (const method of service.methods) {
          expect(policy.requirementFor(`${service.typeName}/${method.name}`), method.name).to.equal("customer");
        }
      }
    });

    it("denies internal and unknown methods by default", () => {
      for (const name of ["ReserveStock", "ReleaseReservation", "CommitReservation"]) {
        expect(policy.requirementFor(`meshwork.inventory.v1.InventoryService/${name}`), name).to.equal("deny");
      }
      expect(policy.requirementFor("meshwork.payments.v1.PaymentService/AuthorizePayment")).to.equal("deny");
      expect(policy.requirementFor("meshwork.orders.v1.OrderService/DropTables")).to.equal("deny");
      expect(policy.requirementFor("")).to.equal("deny");
      expect(policy.requirementFor("meshwork.inventory.v1.InventoryService/getitem")).to.equal("deny");
    });

    it("accepts the Connect/gRPC path form of a method", () => {
      expect(policy.requirementFor("/meshwork.inventory.v1.InventoryService/GetItem")).to.equal("public");
    });
  });

  describe("validation", () => {
    const invalid = (document: unknown, pattern: RegExp, given = services): void => {
      expect(() => createAccessPolicy(document, given, "test-policy.json")).to.throw(pattern);
    };

    it("refuses an unknown level, naming the method", () => {
      invalid({ methods: { "meshwork.inventory.v1.InventoryService/GetItem": "anyone" } }, /test-policy\.json: meshwork\.inventory\.v1\.InventoryService\/GetItem: unknown level "anyone"/);
      invalid({ methods: { "meshwork.inventory.v1.InventoryService/GetItem": "deny" } }, /unknown level "deny"/);
      invalid({ methods: { "meshwork.inventory.v1.InventoryService/GetItem": true } }, /unknown level true/);
    });

    it("refuses a method the services do not declare, naming it", () => {
      invalid({ methods: { "meshwork.inventory.v1.InventoryService/GetItems": "public" } }, /InventoryService\/GetItems: no such method/);
      invalid({ methods: { "meshwork.inventory.v1.InventoryService.GetItem": "public" } }, /InventoryService\.GetItem: no such method/);
      invalid({ methods: { "meshwork.payments.v1.PaymentService/GetPayment": "customer" } }, /PaymentService\/GetPayment: no such method in meshwork\.inventory\.v1\.InventoryService, meshwork\.orders\.v1\.OrderService/);
    });

    it("accepts a method of any service it is given", () => {
      const policy = createAccessPolicy({ methods: { "meshwork.payments.v1.PaymentService/GetPayment": "admin" } }, [PaymentService]);

      expect(policy.requirementFor("meshwork.payments.v1.PaymentService/GetPayment")).to.equal("admin");
    });

    it("refuses a document of the wrong shape", () => {
      invalid(null, /"methods" object/);
      invalid([], /"methods" object/);
      invalid({}, /"methods" object/);
      invalid({ methods: [] }, /"methods" object/);
      invalid({ methods: {}, method: {} }, /unknown top-level field "method"/);
    });

    it("names the file when it cannot be read or parsed", async () => {
      const dir = await mkdtemp(path.join(tmpdir(), "access-policy-"));
      try {
        const broken = path.join(dir, "broken.json");
        await writeFile(broken, "{ not json");
        expect(() => loadAccessPolicy(broken, services)).to.throw(/broken\.json/);
        expect(() => loadAccessPolicy(path.join(dir, "absent.json"), services)).to.throw(/absent\.json/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
