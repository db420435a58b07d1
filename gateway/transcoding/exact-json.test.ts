import { fromJson } from "@bufbuild/protobuf";
import { expect } from "chai";
import { BookSchema, CreateBookRequestSchema } from "../../test/gen/meshwork/library/v1/library_pb.js";
import { parseJsonExactly } from "./exact-json.js";

describe("parseJsonExactly", () => {
  it("keeps an integer beyond 2^53 exact where the field is a 64-bit integer, nested and top level", () => {
    expect(parseJsonExactly('{"book":{"priceMinor":9007199254740993,"pageCount":12},"shelf":"s1"}', CreateBookRequestSchema)).to.deep.equal({
      book: { priceMinor: "9007199254740993", pageCount: 12 },
      shelf: "s1",
    });
    const book = fromJson(BookSchema, parseJsonExactly('{"price_minor":-9223372036854775808}', BookSchema) as never);
    expect(book.priceMinor).to.equal(-9223372036854775808n);
  });

  it("keeps it exact for a body that is one 64-bit field", () => {
    const priceMinor = BookSchema.fields.find((f) => f.name === "price_minor")!;
    expect(parseJsonExactly("9007199254740993", priceMinor)).to.equal("9007199254740993");
  });

  it("leaves a big integer a number anywhere else, so a string field refuses it as it refuses 1", () => {
    const json = parseJsonExactly('{"requestId":99999999999999999999,"book":{"title":"9007199254740993 in text"}}', CreateBookRequestSchema);
    expect(json).to.deep.equal({ requestId: 99999999999999999999, book: { title: "9007199254740993 in text" } });
    for (const body of ['{"requestId":99999999999999999999}', '{"requestId":1}']) {
      expect(() => fromJson(CreateBookRequestSchema, parseJsonExactly(body, CreateBookRequestSchema) as never), body).to.throw(/request_id|requestId/);
    }
  });

  it("does not touch digits inside strings with escaped quotes", () => {
    expect(parseJsonExactly('{"title":"x\\"99999999999999999999","pageCount":3}', BookSchema)).to.deep.equal({ title: 'x"99999999999999999999', pageCount: 3 });
  });

  it("still rejects malformed JSON", () => {
    expect(() => parseJsonExactly('{"a": 123456789012345678901', BookSchema)).to.throw(SyntaxError);
  });
});
