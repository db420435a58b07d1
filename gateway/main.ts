// Wiring only: configuration from the environment and the gateway config
// file (what it fronts, where, and their descriptors), the token verifier and
// access policy, protected clients of the fronted services, the web page and
// the OpenAPI document, and the edge server. No service is named here.
import { readFileSync } from "node:fs";
import path from "node:path";
import { createRouterTransport } from "@connectrpc/connect";
import { FaultService } from "../gen/meshwork/faults/v1/faults_pb.js";
import {
  breakersCheck,
  identityCheck,
  envInt,
  envString,
  evaluateReadiness,
  faultService,
  metricsEndpoint,
  metricsPath,
  probeRoutes,
  runUntilSignal,
  serviceRuntime,
} from "../mesh/index.js";
import {
  authDevFallbacks,
  createTokenVerifier,
  devAudience,
  devAuthDirName,
  devIssuer,
  ensureDevKeys,
  loadAccessPolicy,
} from "./auth/index.js";
import { loadCatalogue } from "../platform/catalogue/index.js";
import { checkFrontable, defaultGatewayConfigFile, frontedServices, loadGatewayConfig, ownServices } from "./config/index.js";
import { defaultForwardedHeaders } from "./http/forwarded-headers.js";
import { clientAddressResolver } from "./http/client-address.js";
import { RateLimiter } from "./limits/rate-limiter.js";
import { EdgeAdmission } from "./server/edge-admission.js";
import { operatorOnly } from "./server/operator-routes.js";
import { createOpenApiDocument, protoCommentsFromImage } from "./openapi/index.js";
import { createGatewayMetrics } from "./metrics/gateway-metrics.js";
import { GatewayServer } from "./server/gateway-server.js";
import { UpstreamCaller, type FrontedService } from "./server/upstream-call.js";
import { bundleWebApp } from "./web/bundle.js";
import { bundleMeshPage, defaultMeshServices, meshRoutes, parseMeshServices, StatusCollector } from "./mesh-page/index.js";

// Metrics at GET /metrics on the gateway's port, for operators only (an
// admin token, like the /mesh page's data): its requests, its upstream calls
// and their resilience events, and the process.
const runtime = serviceRuntime("gateway", process.env, { defaultPort: 8080 });
const { env, logger, tracing, metrics, dataDir, port, host, limits } = runtime;
const maxTimeoutMs = envInt(env, "GATEWAY_MAX_TIMEOUT_MS", 30_000, { min: 1 });
// A client's own deadline below this is refused (400): it could only make
// upstream calls fail, not succeed sooner.
const clientDeadlineFloorMs = envInt(env, "CLIENT_DEADLINE_FLOOR_MS", 50, { min: 1 });

const auth = {
  jwksUrl: envString(env, "AUTH_JWKS_URL", ""),
  jwksFile: envString(env, "AUTH_JWKS_FILE", ""),
  issuer: envString(env, "AUTH_ISSUER", ""),
  audience: envString(env, "AUTH_AUDIENCE", ""),
};
// MESH_ENV=production stops here, naming each development fallback: the
// runtime's (mTLS off, MESH_FAULTS) and the token verification's. Before any
// dev key is made.
runtime.refuseDevFallbacks(authDevFallbacks(auth));
const jwks = auth.jwksUrl !== ""
  ? { url: auth.jwksUrl }
  : { file: auth.jwksFile || (await ensureDevKeys(path.join(dataDir, devAuthDirName))).jwksFile };
const verifier = await createTokenVerifier({
  jwks,
  issuer: auth.issuer || devIssuer,
  audience: auth.audience || devAudience,
});

// What it fronts: GATEWAY_CONFIG (default gateway/gateway.yaml). Start-up
// stops, naming them, at services missing from the descriptors or lacking
// HTTP rules or access-policy lines.
const config = loadGatewayConfig(envString(env, "GATEWAY_CONFIG", defaultGatewayConfigFile), env);
// Calls in flight to each upstream at most, and the share of them one caller
// (a token's subject, or an anonymous client's address) may hold: the rest
// of the callers still get in while one sends slow requests.
const upstreams: FrontedService[] = frontedServices(config, {
  bulkhead: {
    maxConcurrent: envInt(env, "GATEWAY_BULKHEAD_MAX", 64, { min: 1 }),
    maxShare: envInt(env, "GATEWAY_BULKHEAD_SHARE_PERCENT", 25, { min: 1, max: 100 }) / 100,
  },
});
const policy = loadAccessPolicy(config.accessPolicyFile, [...upstreams.map((u) => u.service), ...ownServices]);
checkFrontable(config, upstreams.map((u) => u.service), policy);
// With MESH_FAULTS set, the faults of the gateway's own upstream calls are an
// admin's to read and change at GET/PUT /v1/faults (the access policy); without
// it the routes do not exist. Served in this process, not by an upstream.
if (runtime.faults !== undefined) {
  const faults = runtime.faults;
  upstreams.push({ service: FaultService, local: createRouterTransport(({ service }) => service(FaultService, faultService(faults))) });
}
const clients = runtime.clients();
const caller = new UpstreamCaller({
  upstreams,
  clients,
  policy,
  forwardHeaders: defaultForwardedHeaders,
  logger,
});
// The order at the edge (gateway/server/edge-admission.ts): the client
// address's bucket first, then the token, then the caller's own bucket. An
// address may carry several callers (an office behind NAT), so its bucket is
// by default five times a caller's. Behind a load balancer, TRUSTED_PROXIES
// (CIDRs) lets the right-most untrusted X-Forwarded-For entry be the address.
const subjectRate = envInt(env, "RATE_LIMIT_PER_SECOND", 20, { min: 1 });
const subjectBurst = envInt(env, "RATE_LIMIT_BURST", 40, { min: 1 });
const maxKeys = envInt(env, "RATE_LIMIT_MAX_KEYS", 100_000, { min: 1 });
const trustedProxies = envString(env, "TRUSTED_PROXIES", "").split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
const admission = new EdgeAdmission({
  verifier,
  byAddress: new RateLimiter({
    ratePerSecond: envInt(env, "RATE_LIMIT_ADDRESS_PER_SECOND", 5 * subjectRate, { min: 1 }),
    burst: envInt(env, "RATE_LIMIT_ADDRESS_BURST", 5 * subjectBurst, { min: 1 }),
    maxKeys,
  }),
  bySubject: new RateLimiter({ ratePerSecond: subjectRate, burst: subjectBurst, maxKeys }),
  clientAddress: clientAddressResolver(trustedProxies, "TRUSTED_PROXIES"),
});

// Clients made: the routes file's rules (MESH_ROUTES_FILE) are checked against their versions.
runtime.watchRoutes();

// Readiness beyond serving: its mesh certificate has not expired unrenewed
// (every upstream would refuse it), and no upstream the config marks
// `readiness` looks down (every breaker of it with recent calls open).
// /readyz and the /mesh page read it.
const upstreamChecks = [
  ...(runtime.tls === undefined ? [] : [identityCheck(runtime.tls)]),
  ...config.upstreams.filter((u) => u.readiness).map((u) => breakersCheck(clients, u.name)),
];

const web = await bundleWebApp();
// The live mesh page at /mesh: every MESH_SERVICES process polled every MESH_POLL_MS.
// The service catalogue beside the code (CATALOGUE_DIR: a repository root
// with services/*/service.yaml): owners, tiers and SLOs on the /mesh page.
const catalogue = loadCatalogue(envString(env, "CATALOGUE_DIR", path.resolve(import.meta.dirname, ".."))).services.map((s) => s.manifest);
const meshStatus = new StatusCollector({
  services: parseMeshServices(envString(env, "MESH_SERVICES", defaultMeshServices)),
  catalogue,
  local: {
    name: "gateway",
    events: clients.events,
    metricsText: () => metrics.metricsText(),
    ready: () => evaluateReadiness(upstreamChecks).status === "ready",
    routes: runtime.routes,
  },
  pollIntervalMs: envInt(env, "MESH_POLL_MS", 1_000, { min: 10 }),
  // SLOs over 30 days and burn-rate alerts from a Prometheus loading prometheus/slo-rules.yml;
  // without it, SLOs from the processes' counters since they started.
  ...(envString(env, "MESH_PROMETHEUS_URL", "") === "" ? {} : { prometheusUrl: envString(env, "MESH_PROMETHEUS_URL", "").replace(/\/+$/, "") }),
});
// The page's shell is public and static; its data (status.json, the stream)
// needs an admin token, which the page asks for (gateway/mesh-page/mesh-routes.ts).
// Streams are capped in all and per operator.
const meshPage = meshRoutes(meshStatus, await bundleMeshPage(), {
  maxStreams: envInt(env, "MESH_MAX_STREAMS", 32, { min: 1 }),
  streamsPerSubject: envInt(env, "MESH_STREAMS_PER_SUBJECT", 4, { min: 1 }),
});
// Proto comments for the OpenAPI descriptions come from the same descriptors.
const openApi = createOpenApiDocument({
  comments: protoCommentsFromImage(readFileSync(config.descriptorsFile)),
  services: upstreams.map((u) => u.service),
  title: "Meshwork shop API",
  version: "v1",
  // Bound methods are public, customer or admin; anything denied needs a token too.
  security: (method: string) => {
    const requirement = policy.requirementFor(method);
    return requirement === "deny" ? "customer" : requirement;
  },
});
// GET /healthz (live) and /readyz: ready while serving and no readiness
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
  admission,
  maxTimeoutMs,
  clientDeadlineFloorMs,
  // REST and passthrough bodies alike; the passthrough's also after decompression.
  maxBodyBytes: envInt(env, "GATEWAY_MAX_BODY_BYTES", 1024 * 1024, { min: 1 }),
  limits,
  metrics: createGatewayMetrics({ registry: metrics.registry }),
  // Probes and the page's shell for anyone; /metrics and the page's data for
  // admin tokens only, after the address's bucket, the token and the caller's bucket.
  httpRoutes: [probes, meshPage.route, operatorOnly(admission, [{ paths: [metricsPath], route: metricsEndpoint(metrics) }, meshPage.data])],
  onFailure: (failure) => meshStatus.recordFailure(failure),
  assets: {
    "/": { contentType: "text/html; charset=utf-8", body: web.html },
    "/app.js": { contentType: "text/javascript; charset=utf-8", body: web.js },
    "/openapi.json": { contentType: "application/json", body: JSON.stringify(openApi) },
  },
});
const boundPort = await server.listen(port, host);
serving = true;
const ownUrl = `http://${host}:${boundPort}`; // eslint-disable-line @microsoft/sdl/no-insecure-url -- the listener just bound speaks plaintext; https here would be false
logger.info({ url: ownUrl }, "serving");
meshStatus.start(ownUrl);

runUntilSignal(async () => {
  serving = false;
  // Live page streams first, so that they do not hold the server's drain.
  meshPage.close();
  await meshStatus.stop();
  await server.close();
  clients.close();
  await runtime.shutdown();
}, logger);
