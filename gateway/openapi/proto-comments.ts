import { fromBinary } from "@bufbuild/protobuf";
import type { AnyDesc } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { DescriptorProto, EnumDescriptorProto, FileDescriptorSet } from "@bufbuild/protobuf/wkt";

/**
 * The leading comments of .proto elements, keyed by full proto name:
 * `pkg.Message`, `pkg.Message.field`, `pkg.Message.oneof`, `pkg.Enum`,
 * `pkg.Enum.VALUE`, `pkg.Service`, `pkg.Service.Method`.
 *
 * Why a separate map: protoc-gen-es embeds descriptors without source code
 * info. The comments come from the Buf image the gateway config names (its
 * descriptors), built with source info, which `buf build` includes by default:
 *
 *     buf build proto -o .data/api.binpb
 *
 * An image is wire-compatible with google.protobuf.FileDescriptorSet, so
 * reading it needs only @bufbuild/protobuf: buf is never a run-time
 * dependency.
 */
export type ProtoComments = ReadonlyMap<string, string>;

/** Comments from the bytes of a Buf image (or any binary FileDescriptorSet). */
export function protoCommentsFromImage(bytes: Uint8Array): ProtoComments {
  return protoCommentsFromDescriptorSet(fromBinary(FileDescriptorSetSchema, bytes));
}

// Field numbers of the descriptor.proto messages that source-info paths walk.
const fileMessage = 4;
const fileEnum = 5;
const fileService = 6;
const messageField = 2;
const messageNested = 3;
const messageEnum = 4;
const messageOneof = 8;
const enumValue = 2;
const serviceMethod = 2;

/** Comments from a FileDescriptorSet that carries source code info. */
export function protoCommentsFromDescriptorSet(set: FileDescriptorSet): ProtoComments {
  const comments = new Map<string, string>();
  for (const file of set.file) {
    const prefix = file.package === "" ? "" : `${file.package}.`;
    for (const location of file.sourceCodeInfo?.location ?? []) {
      const text = normalize(location.leadingComments);
      if (text === "") {
        continue;
      }
      const [kind, index, ...rest] = location.path;
      let name: string | undefined;
      if (kind === fileMessage && index !== undefined) {
        name = messageElementName(file.messageType[index], prefix, rest);
      } else if (kind === fileEnum && index !== undefined) {
        name = enumElementName(file.enumType[index], prefix, rest);
      } else if (kind === fileService && index !== undefined) {
        const service = file.service[index];
        const [child, childIndex, ...tail] = rest;
        if (service !== undefined && child === undefined) {
          name = prefix + service.name;
        } else if (service !== undefined && child === serviceMethod && childIndex !== undefined && tail.length === 0) {
          const method = service.method[childIndex];
          name = method === undefined ? undefined : `${prefix}${service.name}.${method.name}`;
        }
      }
      if (name !== undefined) {
        comments.set(name, text);
      }
    }
  }
  return comments;
}

/** The key of a descriptor in a ProtoComments map. */
export function protoNameOf(desc: AnyDesc): string {
  switch (desc.kind) {
    case "file":
      return desc.name;
    case "message":
    case "enum":
    case "service":
    case "extension":
      return desc.typeName;
    case "field":
    case "oneof":
    case "enum_value":
    case "rpc":
      return `${protoNameOf(desc.parent)}.${desc.name}`;
  }
}

function messageElementName(message: DescriptorProto | undefined, prefix: string, path: number[]): string | undefined {
  if (message === undefined) {
    return undefined;
  }
  const name = prefix + message.name;
  const [child, index, ...rest] = path;
  if (child === undefined) {
    return name;
  }
  if (index === undefined) {
    return undefined;
  }
  switch (child) {
    case messageNested:
      return messageElementName(message.nestedType[index], `${name}.`, rest);
    case messageEnum:
      return enumElementName(message.enumType[index], `${name}.`, rest);
    case messageField:
      return rest.length === 0 ? leaf(name, message.field[index]?.name) : undefined;
    case messageOneof:
      return rest.length === 0 ? leaf(name, message.oneofDecl[index]?.name) : undefined;
    default:
      return undefined;
  }
}

function enumElementName(desc: EnumDescriptorProto | undefined, prefix: string, path: number[]): string | undefined {
  if (desc === undefined) {
    return undefined;
  }
  const name = prefix + desc.name;
  const [child, index, ...rest] = path;
  if (child === undefined) {
    return name;
  }
  if (child === enumValue && index !== undefined && rest.length === 0) {
    return leaf(name, desc.value[index]?.name);
  }
  return undefined;
}

function leaf(parent: string, name: string | undefined): string | undefined {
  return name === undefined ? undefined : `${parent}.${name}`;
}

/** protoc keeps the space after `//`; drop one per line and the blank edges. */
function normalize(comment: string | undefined): string {
  if (comment === undefined) {
    return "";
  }
  return comment
    .split("\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd())
    .join("\n")
    .trim();
}
