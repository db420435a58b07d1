import type { AnyDesc, DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import type { JsonSchema } from "./openapi-types.js";
import { protoNameOf } from "./proto-comments.js";
import type { ProtoComments } from "./proto-comments.js";
import { mapKeySchema, scalarSchema, wellKnownSchema } from "./proto-json-schema.js";
import { fieldRulesOf, isRequiredByRules, itemRulesOf, mapRulesOf, ruleKeywords } from "./validate-rules.js";

export interface ValueSchemaOptions {
  /** Write enums inline (as a string enum) instead of as a $ref, e.g. for parameters. */
  readonly inlineEnums?: boolean;
}

/**
 * The components.schemas section: one schema per message and enum a route
 * reaches (well-known types are inline), in the proto3 JSON mapping with
 * lowerCamel JSON names.
 *
 * A component is named after its type without the package (`Item`,
 * `Outer.Inner`); when two reachable types share that name, the first by full
 * name keeps it and the others take their full name
 * (`meshwork.inventory.v2alpha1.Item`), so a name never depends on which
 * route happened to reach a type first, and a new version never renames the
 * schemas of the one already published.
 */
export class ComponentSchemas {
  private readonly names = new Map<string, string>();
  private readonly emitted = new Map<string, JsonSchema>();

  constructor(
    roots: Iterable<DescMessage>,
    private readonly comments: ProtoComments,
    reservedNames: Iterable<string>,
  ) {
    const types = reachableTypes(roots);
    const taken = new Map<string, number>();
    for (const name of reservedNames) {
      taken.set(name, 1);
    }
    const shortName = (desc: DescMessage | DescEnum) =>
      desc.file.proto.package === "" ? desc.typeName : desc.typeName.slice(desc.file.proto.package.length + 1);
    // On a clash, the type first by full name keeps the short name and the
    // others take their full name: serving v2alpha1 beside v1 leaves the v1
    // names clients generated code from as they were.
    for (const desc of [...types].sort((a, b) => a.typeName.localeCompare(b.typeName))) {
      const short = shortName(desc);
      this.names.set(desc.typeName, taken.has(short) ? desc.typeName : short);
      taken.set(short, 1);
    }
  }

  /** Every component schema referenced so far, by name. */
  toRecord(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.emitted].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** The comment of a descriptor, if the comments map has one. */
  describe(desc: AnyDesc): string | undefined {
    return this.comments.get(protoNameOf(desc));
  }

  /** A $ref to a message's component, or a well-known type's inline schema. */
  messageSchema(message: DescMessage): JsonSchema {
    const wellKnown = wellKnownSchema(message);
    if (wellKnown !== undefined) {
      return wellKnown;
    }
    const name = this.nameOf(message);
    if (!this.emitted.has(name)) {
      // Placed before it is built, so a recursive message refers to itself.
      const schema: JsonSchema = {};
      this.emitted.set(name, schema);
      Object.assign(schema, this.objectSchema(message));
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  /** A $ref to an enum's component: a string enum of the value names. */
  enumSchema(desc: DescEnum, options: ValueSchemaOptions = {}): JsonSchema {
    if (options.inlineEnums) {
      return { type: "string", enum: desc.values.map((v) => v.name) };
    }
    const name = this.nameOf(desc);
    if (!this.emitted.has(name)) {
      const values = desc.values
        .map((v) => [v.name, this.describe(v)] as const)
        .filter(([, comment]) => comment !== undefined)
        .map(([value, comment]) => `- \`${value}\`: ${comment}`);
      this.emitted.set(name, {
        type: "string",
        enum: desc.values.map((v) => v.name),
        ...describedBy(joinParagraphs(this.describe(desc), values.join("\n"))),
      });
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  /**
   * A message as an inline object schema, without the fields in `omit` (by
   * proto name): a component's body, or a request body whose path-bound
   * fields come from the URL.
   */
  objectSchema(message: DescMessage, omit: ReadonlySet<string> = new Set()): JsonSchema {
    const fields = message.fields.filter((f) => !omit.has(f.name));
    const oneofNotes = message.oneofs.map((oneof) =>
      joinSentences(
        `At most one of ${oneof.fields.map((f) => `\`${f.jsonName}\``).join(", ")} is set (oneof \`${oneof.name}\`).`,
        this.describe(oneof),
      ),
    );
    const required = this.requiredFields(message, omit);
    return {
      type: "object",
      ...describedBy(joinParagraphs(this.describe(message), ...oneofNotes)),
      properties: Object.fromEntries(fields.map((f) => [f.jsonName, this.propertySchema(f)])),
      ...(required.length > 0 ? { required } : {}),
    };
  }

  /** JSON names of the fields a request must carry (see isRequiredByRules). */
  requiredFields(message: DescMessage, omit: ReadonlySet<string> = new Set()): string[] {
    return message.fields
      .filter((f) => !omit.has(f.name) && isRequiredByRules(f, fieldRulesOf(f)))
      .map((f) => f.jsonName);
  }

  /** A field as an object property: its value schema, comment and deprecation. */
  propertySchema(field: DescField): JsonSchema {
    const oneofNote = field.oneof === undefined ? undefined : `Member of oneof \`${field.oneof.name}\`.`;
    return {
      ...this.valueSchema(field),
      ...describedBy(joinSentences(this.describe(field), oneofNote)),
      ...(field.deprecated ? { deprecated: true } : {}),
    };
  }

  /** A field's value in the proto3 JSON mapping, with its protovalidate rules. */
  valueSchema(field: DescField, options: ValueSchemaOptions = {}): JsonSchema {
    const rules = fieldRulesOf(field);
    switch (field.fieldKind) {
      case "scalar":
        return { ...scalarSchema(field.scalar), ...ruleKeywords(rules) };
      case "enum":
        return { ...this.enumSchema(field.enum, options), ...ruleKeywords(rules, field.enum) };
      case "message":
        return this.messageSchema(field.message);
      case "list": {
        const itemRules = itemRulesOf(rules);
        let items: JsonSchema;
        switch (field.listKind) {
          case "scalar":
            items = { ...scalarSchema(field.scalar), ...ruleKeywords(itemRules) };
            break;
          case "enum":
            items = { ...this.enumSchema(field.enum, options), ...ruleKeywords(itemRules, field.enum) };
            break;
          case "message":
            items = this.messageSchema(field.message);
            break;
        }
        return { type: "array", items, ...ruleKeywords(rules) };
      }
      case "map": {
        const { keys, values } = mapRulesOf(rules);
        let value: JsonSchema;
        switch (field.mapKind) {
          case "scalar":
            value = { ...scalarSchema(field.scalar), ...ruleKeywords(values) };
            break;
          case "enum":
            value = { ...this.enumSchema(field.enum, options), ...ruleKeywords(values, field.enum) };
            break;
          case "message":
            value = this.messageSchema(field.message);
            break;
        }
        const keyKeywords = { ...mapKeySchema(field.mapKey), ...ruleKeywords(keys) };
        return {
          type: "object",
          additionalProperties: value,
          ...(Object.keys(keyKeywords).length > 0 ? { propertyNames: keyKeywords } : {}),
          ...ruleKeywords(rules),
        };
      }
    }
  }

  private nameOf(desc: DescMessage | DescEnum): string {
    const name = this.names.get(desc.typeName);
    if (name === undefined) {
      throw new Error(`${desc.typeName} was not reachable from the services' methods`);
    }
    return name;
  }
}

/** Messages and enums reachable from `roots`, well-known types excluded. */
function reachableTypes(roots: Iterable<DescMessage>): (DescMessage | DescEnum)[] {
  const found = new Map<string, DescMessage | DescEnum>();
  const visit = (desc: DescMessage | DescEnum) => {
    if (found.has(desc.typeName) || (desc.kind === "message" && wellKnownSchema(desc) !== undefined)) {
      return;
    }
    found.set(desc.typeName, desc);
    if (desc.kind === "enum") {
      return;
    }
    for (const field of desc.fields) {
      if (field.enum !== undefined) visit(field.enum);
      if (field.message !== undefined) visit(field.message);
    }
  };
  for (const root of roots) {
    visit(root);
  }
  return [...found.values()];
}

function describedBy(description: string | undefined): { description?: string } {
  return description === undefined || description === "" ? {} : { description };
}

function joinParagraphs(...parts: (string | undefined)[]): string | undefined {
  const present = parts.filter((p): p is string => p !== undefined && p !== "");
  return present.length === 0 ? undefined : present.join("\n\n");
}

function joinSentences(...parts: (string | undefined)[]): string | undefined {
  const present = parts.filter((p): p is string => p !== undefined && p !== "");
  return present.length === 0 ? undefined : present.join(" ");
}
