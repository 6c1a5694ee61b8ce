import assert from "node:assert/strict";
import fc from "fast-check";
import {
  base64url,
  fromBase64url,
  fromBase64urlScratch,
  fromUtf8,
  hex,
  randomToken,
  type ReadableBytes,
  sha256,
  timingSafeEqual,
  utf8,
  utf8Scratch,
} from "../../src/core/encoding.ts";

Deno.test("base64url: RFC 4648 test vectors, without padding", () => {
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "Zg"],
    ["fo", "Zm8"],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg"],
    ["fooba", "Zm9vYmE"],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [text, encoded] of vectors) {
    assert.equal(base64url(utf8(text)), encoded);
    assert.equal(fromUtf8(fromBase64url(encoded)), text);
  }
  assert.equal(base64url(new Uint8Array([0xfb, 0xff, 0xbf])), "-_-_");
});

Deno.test("base64url: property, every byte string round-trips", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const text = base64url(bytes);
      assert.match(text, /^[A-Za-z0-9_-]*$/);
      assert.deepEqual(fromBase64url(text), bytes);
    }),
  );
});

Deno.test("fromBase64url refuses padding, the standard alphabet and stray characters", () => {
  for (
    const text of [
      "Zg==",
      "Zm8=",
      "Zm9v=",
      "+_8",
      "-/8",
      "Zm9 v",
      "Zm9v\n",
      "*",
    ]
  ) {
    assert.throws(() => fromBase64url(text), TypeError, text);
  }
});

Deno.test("fromBase64url refuses impossible lengths and non-canonical trailing bits", () => {
  // One leftover character can never encode a byte.
  for (const text of ["A", "AAAAA"]) {
    assert.throws(() => fromBase64url(text), TypeError, text);
  }
  // "Zg" is "f" and "Zm8" is "fo"; these decode to the same bytes with unused bits set.
  for (const text of ["Zh", "Zv", "Zm9", "Zm-"]) {
    assert.throws(() => fromBase64url(text), TypeError, text);
  }
});

/** Near-base64url strings: the alphabet plus the characters it must refuse. */
const nearBase64url = fc.string({
  unit: fc.constantFrom(
    ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= ",
  ),
  maxLength: 60,
});

/** What `decode` makes of `text`: its bytes, or the TypeError it refused it with. */
function decodeOrRefusal(
  decode: (text: string) => ReadableBytes,
  text: string,
): ReadableBytes | TypeError {
  try {
    return decode(text);
  } catch (error) {
    assert.ok(error instanceof TypeError);
    return error;
  }
}

Deno.test("fromBase64url: property, a string is refused or is the canonical encoding", () => {
  fc.assert(
    fc.property(nearBase64url, (text) => {
      const bytes = decodeOrRefusal(fromBase64url, text);
      if (!(bytes instanceof TypeError)) assert.equal(base64url(bytes), text);
    }),
  );
});

Deno.test("the scratch decoders: property, the same bytes and the same refusals as fromBase64url and utf8", () => {
  fc.assert(
    fc.property(nearBase64url, (text) => {
      const expected = decodeOrRefusal(fromBase64url, text);
      const scratch = decodeOrRefusal(fromBase64urlScratch, text);
      if (expected instanceof TypeError) {
        assert.ok(scratch instanceof TypeError, text);
      } else {
        assert.equal(Object.getPrototypeOf(scratch), Uint8Array.prototype);
        assert.deepEqual(scratch, expected);
      }
    }),
  );
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 60 }), (text) => {
      const bytes = utf8Scratch(text);
      assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
      assert.deepEqual(bytes, utf8(text));
    }),
  );
  // A lone surrogate becomes U+FFFD in both.
  assert.deepEqual(utf8Scratch("a\ud800b"), utf8("a\ud800b"));
});

Deno.test("hex, utf8 and sha256 known answers", async () => {
  assert.equal(hex(new Uint8Array([0, 1, 0xab, 0xff])), "0001abff");
  assert.equal(
    hex(await sha256("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.deepEqual(await sha256(utf8("abc")), await sha256("abc"));
  assert.equal(fromUtf8(utf8("h\u00e9llo \u{1f916}")), "h\u00e9llo \u{1f916}");
  assert.throws(() => fromUtf8(new Uint8Array([0xff])), TypeError);
  assert.throws(() => fromUtf8(new Uint8Array([0xc3])), TypeError);
});

Deno.test("randomToken is base64url of the requested number of bytes", () => {
  assert.match(randomToken(), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(fromBase64url(randomToken(16)).length, 16);
  assert.notEqual(randomToken(), randomToken());
});

Deno.test("timingSafeEqual compares whole strings", () => {
  assert.equal(timingSafeEqual("", ""), true);
  assert.equal(timingSafeEqual("abc", "abc"), true);
  assert.equal(timingSafeEqual("abc", "abd"), false);
  assert.equal(timingSafeEqual("abc", "ab"), false);
  assert.equal(timingSafeEqual("ab", "abc"), false);
  assert.equal(timingSafeEqual("\u0100", "\u0000"), false);
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => {
      assert.equal(timingSafeEqual(a, b), a === b);
      assert.equal(timingSafeEqual(a, a), true);
    }),
  );
});
