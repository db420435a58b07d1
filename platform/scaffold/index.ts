// `make service`: the template of a new service.
export { envPrefix, pascalName, serviceFiles, serviceNamePattern, serviceTypeName } from "./service-template.js";
export type { ServiceTemplateInput } from "./service-template.js";
