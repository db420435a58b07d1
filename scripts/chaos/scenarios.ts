import { randomInt } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { FaultService, type FaultConfigSchema } from "../../gen/meshwork/faults/v1/faults_pb.js";
import { ClientFactory, WorkloadCredentials } from "../../mesh/index.js";
import { meshServices, type ChaosMesh, type MeshService } from "./chaos-mesh.js";

/** What a scenario acts on while the load runs. */
export interface ChaosContext {
  readonly mesh: ChaosMesh;
  /** The load's length, in seconds. */
  readonly loadS: number;
  /** Records a window (seconds from the start) in which the fault was on, for the p99 verdict. */
  faultWindow(fromS: number, toS: number): void;
  /** Replaces a service's fault rules through its FaultService, as an operator would. */
  setFaults(service: MeshService, config: MessageInitShape<typeof FaultConfigSchema>): Promise<void>;
  /** Resolves after `s` seconds from the start of the load. */
  at(s: number): Promise<void>;
  log(line: string): void;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Events over NATS JetStream instead of the embedded bus. */
  readonly nats?: boolean;
  /** Runs alongside the load; resolves when the scenario's last action is done. */
  run(ctx: ChaosContext): Promise<void>;
}

const payments = "meshwork.payments.v1.PaymentService";
const inventory = "meshwork.inventory.v1.InventoryService";

/** The share of inventory calls `flaky` fails, which its retry verdicts are judged against. */
export const flakyShare = 0.1;

/** The five named scenarios of `make chaos`. */
export const scenarios: readonly Scenario[] = [
  {
    name: "kill",
    description: "SIGKILL a random service process every few seconds; the supervisor restarts it",
    async run(ctx) {
      const every = ctx.loadS >= 40 ? 10 : 5;
      for (let s = every; s < ctx.loadS; s += every) {
        await ctx.at(s);
        // A process that is serving: one still waiting out its backoff has no process to kill.
        const serving = ctx.mesh.supervisor.status().filter((p) => p.state === "serving" && (meshServices as readonly string[]).includes(p.name));
        const victim = serving.length === 0 ? undefined : serving[randomInt(serving.length)]?.name;
        const pid = victim === undefined ? undefined : ctx.mesh.supervisor.signal(victim, "SIGKILL");
        ctx.log(pid === undefined ? `t=${s}s no service process serving to kill` : `t=${s}s SIGKILL ${victim} (pid ${pid})`);
        ctx.faultWindow(s, s + every);
      }
    },
  },
  {
    name: "slow",
    description: "200 ms delay on 50% of PaymentService/AuthorizePayment",
    async run(ctx) {
      const [from, to] = [Math.round(ctx.loadS * 0.25), Math.round(ctx.loadS * 0.75)];
      await ctx.at(from);
      await ctx.setFaults("payments", {
        faults: [{ service: payments, method: "AuthorizePayment", delay: { delayType: { case: "fixedDelay", value: { nanos: 200_000_000 } }, percentage: { numerator: 50 } } }],
      });
      ctx.log(`t=${from}s payments: 200 ms on 50% of AuthorizePayment`);
      await ctx.at(to);
      await ctx.setFaults("payments", {});
      ctx.log(`t=${to}s payments: faults cleared`);
      ctx.faultWindow(from, to);
    },
  },
  {
    name: "flaky",
    description: `${flakyShare * 100}% UNAVAILABLE on every InventoryService method`,
    async run(ctx) {
      await ctx.setFaults("inventory", {
        faults: [{ service: inventory, abort: { errorType: { case: "grpcStatus", value: 14 }, percentage: { numerator: flakyShare * 100 } } }],
      });
      ctx.log(`t=0s inventory: ${flakyShare * 100}% UNAVAILABLE on every method`);
      await ctx.at(ctx.loadS);
      await ctx.setFaults("inventory", {});
      ctx.faultWindow(0, ctx.loadS);
    },
  },
  {
    name: "outage",
    description: "payments down (every call UNAVAILABLE) for 10 s",
    async run(ctx) {
      const from = Math.max(2, Math.round(ctx.loadS * 0.25));
      await ctx.at(from);
      await ctx.setFaults("payments", { faults: [{ service: payments, abort: { errorType: { case: "grpcStatus", value: 14 }, percentage: { numerator: 100 } } }] });
      ctx.log(`t=${from}s payments: down`);
      await ctx.at(from + 10);
      await ctx.setFaults("payments", {});
      ctx.log(`t=${from + 10}s payments: back`);
      ctx.faultWindow(from, from + 10);
    },
  },
  {
    name: "bus",
    description: "nats-server restarted mid-run (NATS mode)",
    nats: true,
    async run(ctx) {
      const nats = ctx.mesh.nats;
      if (nats === undefined) {
        throw new Error("the bus scenario needs NATS mode");
      }
      const from = Math.round(ctx.loadS * 0.4);
      await ctx.at(from);
      await nats.stop();
      ctx.log(`t=${from}s nats-server stopped`);
      await ctx.at(from + 3);
      await nats.restart();
      ctx.log(`t=${from + 3}s nats-server started again`);
      ctx.faultWindow(from, from + 3);
    },
  },
];

/** A FaultService client per service of the mesh, over mTLS as the mesh's operator (FaultService is for operators only). */
export function faultSetter(mesh: ChaosMesh): { set: ChaosContext["setFaults"]; close(): void } {
  const tls = new WorkloadCredentials(mesh.operatorTls);
  const clients = new ClientFactory({ tls });
  return {
    async set(service, config) {
      await clients.client(FaultService, { name: service, endpoints: mesh.urls[service], timeouts: { defaultTimeoutMs: 30_000 } }).setFaults({ config });
    },
    close: () => {
      clients.close();
      tls.close();
    },
  };
}
