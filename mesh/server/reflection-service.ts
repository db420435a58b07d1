import { createRegistry, toBinary, type DescFile, type DescService, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection as ReflectionV1,
  type ServerReflectionRequest as RequestV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ReflectionV1alpha,
  type ServerReflectionRequest as RequestV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** gRPC status codes used in reflection error responses. */
const notFound = 5;
const unimplemented = 12;

/**
 * grpc.reflection v1 and v1alpha, answered from the generated descriptors of
 * the services a process serves, so tools such as `buf curl` and grpcurl need
 * no local schema. The two versions have identical messages under different
 * package names; one answer function serves both.
 */
export function createReflectionServices(services: readonly DescService[]): {
  v1: ServiceImpl<typeof ReflectionV1>;
  v1alpha: ServiceImpl<typeof ReflectionV1alpha>;
} {
  const all = [...services, ReflectionV1, ReflectionV1alpha];
  const files = withDependencies(all.map((s) => s.file));
  const schema: Schema = { files, registry: createRegistry(...files.values()) };
  const serviceNames = all.map((s) => ({ name: s.typeName }));
  const answer = (request: RequestV1 | RequestV1alpha, sent: Set<string>) =>
    answerRequest(request, schema, serviceNames, sent);
  return {
    v1: {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const request of requests) {
          yield { validHost: request.host, originalRequest: request, messageResponse: answer(request, sent) };
        }
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const request of requests) {
          yield { validHost: request.host, originalRequest: request, messageResponse: answer(request, sent) };
        }
      },
    },
  };
}

type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Every file a process serves, by name, and every type in them. */
interface Schema {
  readonly files: ReadonlyMap<string, DescFile>;
  readonly registry: Registry;
}

function answerRequest(
  request: RequestV1 | RequestV1alpha,
  { files, registry }: Schema,
  services: { name: string }[],
  sent: Set<string>,
): Answer {
  const req = request.messageRequest;
  switch (req.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: services } };
    case "fileByFilename": {
      const file = files.get(req.value);
      return file ? filesResponse(file, sent) : error(notFound, `file "${req.value}" not found`);
    }
    case "fileContainingSymbol": {
      const file = fileOfSymbol(registry, req.value);
      return file ? filesResponse(file, sent) : error(notFound, `symbol "${req.value}" not found`);
    }
    case "fileContainingExtension": {
      const ext = registry.getExtensionFor(
        registry.getMessage(req.value.containingType) ?? notAMessage,
        req.value.extensionNumber,
      );
      return ext ? filesResponse(ext.file, sent) : error(notFound, "extension not found");
    }
    case "allExtensionNumbersOfType": {
      const message = registry.getMessage(req.value);
      if (!message) {
        return error(notFound, `type "${req.value}" not found`);
      }
      const numbers: number[] = [];
      for (const file of files.values()) {
        for (const ext of file.extensions) {
          if (ext.extendee.typeName === message.typeName) {
            numbers.push(ext.number);
          }
        }
      }
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: message.typeName, extensionNumber: numbers } };
    }
    default:
      return error(unimplemented, "unsupported reflection request");
  }
}

const notAMessage = { typeName: "", kind: "message" } as never;

function fileOfSymbol(registry: Registry, symbol: string): DescFile | undefined {
  const type = registry.get(symbol);
  if (type) {
    return type.file;
  }
  // A method or an enum value: look up its parent.
  const parent = symbol.slice(0, symbol.lastIndexOf("."));
  return parent ? registry.get(parent)?.file : undefined;
}

/** The file and every dependency this stream has not sent yet, file first. */
function filesResponse(file: DescFile, sent: Set<string>): Answer {
  const out: Uint8Array[] = [];
  const visit = (f: DescFile, force: boolean): void => {
    if (sent.has(f.name) && !force) {
      return;
    }
    sent.add(f.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) {
      visit(dep, false);
    }
  };
  visit(file, true);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
}

function error(errorCode: number, errorMessage: string): Answer {
  return { case: "errorResponse", value: { errorCode, errorMessage } };
}

function withDependencies(roots: DescFile[]): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const add = (file: DescFile): void => {
    if (!files.has(file.name)) {
      files.set(file.name, file);
      file.dependencies.forEach(add);
    }
  };
  roots.forEach(add);
  return files;
}
