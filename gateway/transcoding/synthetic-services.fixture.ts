import { create, createFileRegistry, setExtension, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  MethodOptionsSchema,
  file_google_protobuf_timestamp,
} from "@bufbuild/protobuf/wkt";
import { file_google_api_annotations, http } from "../../gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../../gen/google/api/http_pb.js";

/** One method of a synthetic service: its name and google.api.http rule. */
export interface SyntheticMethod {
  readonly name: string;
  readonly rule?: MessageInitShape<typeof HttpRuleSchema>;
  readonly serverStreaming?: boolean;
}

const { STRING: TYPE_STRING, BOOL: TYPE_BOOL, ENUM: TYPE_ENUM, INT64: TYPE_INT64, UINT32: TYPE_UINT32, MESSAGE: TYPE_MESSAGE, DOUBLE: TYPE_DOUBLE } =
  FieldDescriptorProto_Type;
const { OPTIONAL: LABEL_OPTIONAL, REPEATED: LABEL_REPEATED } = FieldDescriptorProto_Label;

/**
 * A service built in memory (test.transcoding.v1.ProbeService) whose methods
 * all take and return `Probe`, a message with one field of each kind a
 * binding can name; for contracts the fixture .proto files cannot express,
 * such as two methods bound to one template.
 */
export function syntheticService(methods: readonly SyntheticMethod[]): DescService {
  const field = (name: string, number: number, type: FieldDescriptorProto_Type, extra: object = {}) => ({
    name,
    number,
    type,
    label: LABEL_OPTIONAL,
    jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    ...extra,
  });
  const file = create(FileDescriptorProtoSchema, {
    name: "test/transcoding/v1/probe.proto",
    package: "test.transcoding.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto", "google/protobuf/timestamp.proto"],
    enumType: [{ name: "Color", value: [{ name: "COLOR_UNSPECIFIED", number: 0 }, { name: "COLOR_RED", number: 1 }] }],
    messageType: [
      {
        name: "Probe",
        field: [
          field("name", 1, TYPE_STRING),
          field("flag", 2, TYPE_BOOL),
          field("color", 3, TYPE_ENUM, { typeName: ".test.transcoding.v1.Color" }),
          field("big", 4, TYPE_INT64),
          field("small", 5, TYPE_UINT32),
          field("tags", 6, TYPE_STRING, { label: LABEL_REPEATED }),
          field("inner", 7, TYPE_MESSAGE, { typeName: ".test.transcoding.v1.Inner" }),
          field("at", 8, TYPE_MESSAGE, { typeName: ".google.protobuf.Timestamp" }),
          field("ratio", 9, TYPE_DOUBLE),
        ],
      },
      { name: "Inner", field: [field("id", 1, TYPE_STRING)] },
    ],
    service: [
      {
        name: "ProbeService",
        method: methods.map((m) => {
          const options = create(MethodOptionsSchema);
          if (m.rule !== undefined) {
            setExtension(options, http, create(HttpRuleSchema, m.rule));
          }
          return {
            name: m.name,
            inputType: ".test.transcoding.v1.Probe",
            outputType: ".test.transcoding.v1.Probe",
            serverStreaming: m.serverStreaming ?? false,
            options,
          };
        }),
      },
    ],
  });
  const registry = createFileRegistry(file, (name) =>
    name === "google/api/annotations.proto"
      ? file_google_api_annotations
      : name === "google/protobuf/timestamp.proto"
        ? file_google_protobuf_timestamp
        : undefined,
  );
  const service = registry.getService("test.transcoding.v1.ProbeService");
  if (service === undefined) {
    throw new Error("synthetic service did not build");
  }
  return service;
}
