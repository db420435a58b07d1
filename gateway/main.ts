// Wiring only: configuration from the environment, the token verifier and
// access policy, protected clients of the public services, the web page and
// the OpenAPI document, and the edge server.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { InventoryService } from "../gen/meshwork/inventory/v1/inventory_pb.js";
import { InventoryService as InventoryServiceV2alpha1 } from "../gen/meshwork/inventory/v2alpha1/inventory_pb.js";
import { NotificationService } from "../gen/meshwork/notifications/v1/notifications_pb.js";
import { OrderService } from "../gen/meshwork/orders/v1/orders_pb.js";
import {
  breakersCheck,
  envEndpoints,
  envInt,
  envString,
  evaluateReadiness,
  metricsEndpoint,
  probeRoutes,
  runUntilSignal,
  serviceRuntime,
} from "../mesh/index.js";
import {
  createTokenVerifier,
  defaultAccessPolicyFile,
  devAudience,
  devAuthDirName,
  devIssuer,
  ensureDevKeys,
  loadAccessPolicy,
} from "./auth/index.js";
import { defaultForwardedHeaders } from "./http/forwarded-headers.js";
import { RateLimiter } from "./limits/rate-limiter.js";
import { createOpenApiDocument, protoCommentsFromImage } from "./openapi/index.js";
import { createGatewayMetrics } from "./metrics/gateway-metrics.js";
import { GatewayServer } from "./server/gateway-server.js";
import { UpstreamCaller, type Upstream } from "./server/upstream-call.js";
import { bundleWebApp } from "./web/bundle.js";
import { bundleMeshPage, defaultMeshServices, meshRoutes, parseMeshServices, StatusCollector } from "./mesh-page/index.js";

// Metrics at GET /metrics on the gateway's port: its requests, its upstream
// calls and their resilience events, and the process.
const runtime = serviceRuntime("gateway", process.env, { defaultPort: 8080 });
const { env, logger, tracing, metrics, dataDir, port, host } = runtime;
const maxTimeoutMs = envInt(env, "GATEWAY_MAX_TIMEOUT_MS", 30_000, { min: 1 });

const jwksUrl = envString(env, "AUTH_JWKS_URL", "");
const jwks = jwksUrl !== ""
  ? { url: jwksUrl }
  : { file: envString(env, "AUTH_JWKS_FILE", "") || (await ensureDevKeys(path.join(dataDir, devAuthDirName))).jwksFile };
const verifier = await createTokenVerifier({
  jwks,
  issuer: envString(env, "AUTH_ISSUER", devIssuer),
  audience: envString(env, "AUTH_AUDIENCE", devAudience),
});

const inventory = { name: "inventory", endpoints: envEndpoints(env, "INVENTORY_URL", "http://127.0.0.1:50051") };
const upstreams: Upstream[] = [
  { service: InventoryService, target: inventory },
  // The inventory service serves both versions; each has its own routes (/v1/..., /v2alpha1/...).
  { service: InventoryServiceV2alpha1, target: inventory },
  {
    service: OrderService,
    target: {
      name: "orders",
      endpoints: envEndpoints(env, "ORDERS_URL", "http://127.0.0.1:50053"),
      // PlaceOrder runs a whole saga; the client's own deadline still caps it.
      timeouts: { defaultTimeoutMs: maxTimeoutMs },
    },
  },
  {
    service: NotificationService,
    target: { name: "notifications", endpoints: envEndpoints(env, "NOTIFICATIONS_URL", "http://127.0.0.1:50054") },
  },
];
const policy = loadAccessPolicy(defaultAccessPolicyFile, upstreams.map((u) => u.service));
const clients = runtime.clients();
const caller = new UpstreamCaller({
  upstreams,
  clients,
  verifier,
  policy,
  rateLimiter: new RateLimiter({
    ratePerSecond: envInt(env, "RATE_LIMIT_PER_SECOND", 20, { min: 1 }),
    burst: envInt(env, "RATE_LIMIT_BURST", 40, { min: 1 }),
  }),
  forwardHeaders: defaultForwardedHeaders,
  logger,
});

// Readiness beyond serving: neither required upstream looks down (every
// breaker of it with recent calls open). /readyz and the /mesh page read it.
const upstreamChecks = [breakersCheck(clients, "inventory"), breakersCheck(clients, "orders")];

const web = await bundleWebApp();
// The live mesh page at /mesh: every MESH_SERVICES process polled every MESH_POLL_MS.
const meshStatus = new StatusCollector({
  services: parseMeshServices(envString(env, "MESH_SERVICES", defaultMeshServices)),
  local: {
    name: "gateway",
    events: clients.events,
    metricsText: () => metrics.metricsText(),
    ready: () => evaluateReadiness(upstreamChecks).status === "ready",
  },
  pollIntervalMs: envInt(env, "MESH_POLL_MS", 1_000, { min: 10 }),
});
const meshPage = meshRoutes(meshStatus, await bundleMeshPage());
// Proto comments for the OpenAPI descriptions come from a buf image made at
// build time (`make run` builds it); without it the document has no prose.
const apiImage = envString(env, "API_IMAGE", path.join(dataDir, "api.binpb"));
const comments = existsSync(apiImage) ? protoCommentsFromImage(readFileSync(apiImage)) : undefined;
const openApi = createOpenApiDocument({
  ...(comments === undefined ? {} : { comments }),
  services: upstreams.map((u) => u.service),
  title: "Meshwork shop API",
  version: "v1",
  // Bound methods are public, customer or admin; anything denied needs a token too.
  security: (method: string) => {
    const requirement = policy.requirementFor(method);
    return requirement === "deny" ? "customer" : requirement;
  },
});
// GET /healthz (live) and /readyz: ready while serving and neither required
// upstream looks down; 503 from the start of shutdown.
let serving = false;
const probes = probeRoutes({
  checks: upstreamChecks,
  serving: () => serving,
});
const server = new GatewayServer({
  upstreams,
  caller,
  logger,
  tracer: tracing.tracer,
  cors: { allowedOrigins: envString(env, "CORS_ORIGINS", "http://localhost:8080,http://127.0.0.1:8080")
      .split(",")
      .map((origin) => origin.trim())
      .filter((origin) => origin !== "") },
  maxTimeoutMs,
  metrics: createGatewayMetrics({ registry: metrics.registry }),
  httpRoutes: [probes, metricsEndpoint(metrics), meshPage.route],
  onFailure: (failure) => meshStatus.recordFailure(failure),
  assets: {
    "/": { contentType: "text/html; charset=utf-8", body: web.html },
    "/app.js": { contentType: "text/javascript; charset=utf-8", body: web.js },
    "/openapi.json": { contentType: "application/json", body: JSON.stringify(openApi) },
  },
});
const boundPort = await server.listen(port, host);
serving = true;
logger.info({ url: `http://${host}:${boundPort}` }, "serving");
meshStatus.start(`http://${host}:${boundPort}`);

runUntilSignal(async () => {
  serving = false;
  // Live page streams first, so that they do not hold the server's drain.
  meshPage.close();
  await meshStatus.stop();
  await server.close();
  clients.close();
  await runtime.shutdown();
}, logger);
