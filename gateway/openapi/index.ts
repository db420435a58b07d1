// The gateway's OpenAPI document: built from the services' descriptors, with
// descriptions from a Buf image when one is given.
export { createOpenApiDocument } from "./openapi-document.js";
export type { AccessLevel, OpenApiDocumentOptions } from "./openapi-document.js";
export { protoCommentsFromDescriptorSet, protoCommentsFromImage } from "./proto-comments.js";
export type { ProtoComments } from "./proto-comments.js";
export type { OpenApiDocument } from "./openapi-types.js";
