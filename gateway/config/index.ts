// The gateway's configuration: what it fronts, where, and with which descriptors.
export { defaultGatewayConfigFile, loadGatewayConfig } from "./gateway-config.js";
export type { GatewayConfig, UpstreamConfig } from "./gateway-config.js";
export { checkFrontable, frontedServices } from "./fronted-services.js";
export { ownServices } from "./own-services.js";
