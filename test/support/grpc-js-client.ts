import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/**
 * A plain @grpc/grpc-js client, an independent gRPC implementation to check
 * our servers' wire compatibility against. It is built from the generated
 * descriptors (no proto-loader): grpc-js sees a service definition whose
 * serializers are protobuf-es's toBinary/fromBinary. Only unary methods are
 * exposed.
 */
export type GrpcJsClient<S extends DescService> = {
  [P in keyof S["method"] as S["method"][P] extends DescMethodUnary ? P : never]: S["method"][P] extends DescMethodUnary<
    infer I,
    infer O
  >
    ? GrpcJsUnaryFn<I, O>
    : never;
} & {
  /** Closes the channel; calls in flight are cancelled. */
  close(): void;
};

export type GrpcJsUnaryFn<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  metadata?: Record<string, string>,
  options?: GrpcJsCallOptions,
) => Promise<MessageShape<O>>;

export interface GrpcJsCallOptions {
  /** The call's deadline, in ms from now. Default: none. */
  readonly deadlineMs?: number;
}

/** How a call fails: grpc-js's status, with the message percent-decoded. */
export class GrpcJsCallError extends Error {
  constructor(
    /** The gRPC status code (grpc.status). */
    readonly code: number,
    /** grpc-message, percent-decoded: grpc-js passes it on as sent. */
    readonly details: string,
    /** The response trailers. */
    readonly metadata: grpc.Metadata,
  ) {
    super(`${grpc.status[code] ?? code}: ${details}`);
    this.name = "GrpcJsCallError";
  }
}

/**
 * Creates a grpc-js client for `service` on `address` ("127.0.0.1:port"),
 * over cleartext HTTP/2 unless `credentials` say otherwise (testTls(...).grpcJs). `channelOptions` go to the grpc-js channel, e.g.
 * `{"grpc.use_local_subchannel_pool": 1}` for a connection of its own.
 */
export function createGrpcJsClient<S extends DescService>(
  service: S,
  address: string,
  channelOptions: grpc.ChannelOptions = {},
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): GrpcJsClient<S> {
  const Constructor = grpc.makeGenericClientConstructor(grpcJsServiceDefinition(service), service.typeName);
  const client = new Constructor(address, credentials, channelOptions);
  const methods: Record<string, unknown> = {
    close: () => client.close(),
  };
  for (const method of service.methods) {
    if (method.methodKind !== "unary") {
      continue;
    }
    const call = (client[method.localName] as UnaryCallFn).bind(client);
    methods[method.localName] = (request: unknown, metadata: Record<string, string> = {}, options: GrpcJsCallOptions = {}) =>
      new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        for (const [key, value] of Object.entries(metadata)) {
          md.set(key, value);
        }
        const callOptions: grpc.CallOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
        call(create(method.input, request as MessageInitShape<DescMessage>), md, callOptions, (err, response) => {
          if (err === null) {
            resolve(response);
          } else {
            reject(new GrpcJsCallError(err.code, percentDecode(err.details), err.metadata));
          }
        });
      });
  }
  return methods as GrpcJsClient<S>;
}

/**
 * The grpc-js service definition of the unary methods of `service`, keyed by
 * local name, serialized with protobuf-es. Usable by a grpc-js Server too.
 */
export function grpcJsServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<MessageShape<DescMessage>, MessageShape<DescMessage>>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") {
      continue;
    }
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: false,
      responseStream: false,
      requestSerialize: (message: MessageShape<DescMessage>) => asBuffer(toBinary(method.input, message)),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: (message: MessageShape<DescMessage>) => asBuffer(toBinary(method.output, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
  }
  return definition;
}

/** grpc-js wants Buffers; this one shares the bytes instead of copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type UnaryCallFn = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

/** grpc-message is percent-encoded on the wire (gRPC spec); grpc-js does not decode it. */
function percentDecode(details: string): string {
  try {
    return decodeURIComponent(details);
  } catch {
    return details;
  }
}
