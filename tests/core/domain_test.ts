import assert from "node:assert/strict";
import fc from "fast-check";
import { dnsRecordName } from "../../src/core/dns_challenge.ts";
import { MAX_DOMAIN_LENGTH, parseDomain } from "../../src/core/domain.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { code } from "./_helpers.ts";

const label63 = "a".repeat(63);
/** 231 characters: the longest domain whose challenge record fits DNS's 253. */
const longest = [label63, label63, label63, "b".repeat(39)].join(".");

Deno.test("parseDomain accepts and normalizes case and one trailing dot", () => {
  const cases: [string, string][] = [
    ["example.com", "example.com"],
    ["Example.COM", "example.com"],
    ["example.com.", "example.com"],
    ["API.Example.co.uk.", "api.example.co.uk"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["123.example.com", "123.example.com"],
    ["a-b.c0m", "a-b.c0m"],
    [`${label63}.com`, `${label63}.com`],
    [longest, longest],
    [`${longest}.`, longest],
  ];
  for (const [input, expected] of cases) {
    assert.equal(parseDomain(input), expected, input);
  }
});

Deno.test("parseDomain refuses single labels, IPs, bad labels, long and non-ASCII names", () => {
  const refused = [
    "",
    ".",
    "localhost",
    "com.",
    "example..com",
    ".example.com",
    "example.com..",
    "-a.com",
    "a-.com",
    "a_b.com",
    "exa mple.com",
    "example.com/path",
    "user@example.com",
    "example.com:443",
    `${"a".repeat(64)}.com`,
    `${longest}x`,
    "127.0.0.1",
    "1.2.3.4.",
    "10.0.0.010",
    "1.2.3.0x4", // a URL parser reads this as the IPv4 address 1.2.3.4
    "example.0X1F",
    "::1",
    "[::1]",
    "2001:db8::1",
    "bücher.example",
    "exampl\u212A.com", // KELVIN SIGN lowercases to an ASCII "k"
    "example.com\u3002",
    "例え.jp",
    "xn--zz.com", // not punycode of anything
    "xn--a.com",
    "xn--.com",
    "a.xn--zz",
    "xn--a-ecp.ru", // decodes to a name a URL parser refuses
    "xn--Bcher-kva.example.xn--zz",
  ];
  for (const input of refused) {
    assert.throws(
      () => parseDomain(input),
      code("ERR_INVALID_DOMAIN"),
      JSON.stringify(input),
    );
  }
});

const labelArb = fc.stringMatching(
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?$/,
);

Deno.test("parseDomain: property, generated names parse to their lowercase form", () => {
  fc.assert(
    fc.property(
      fc.array(labelArb, { minLength: 1, maxLength: 4 }),
      fc.stringMatching(/^[a-zA-Z]{2,10}$/),
      fc.boolean(),
      (labels, tld, trailingDot) => {
        const name = [...labels, tld].join(".");
        assert.equal(
          parseDomain(name + (trailingDot ? "." : "")),
          name.toLowerCase(),
        );
      },
    ),
  );
});

Deno.test("parseDomain: property, any accepted output is canonical and re-parses to itself", () => {
  const input = fc.oneof(
    fc.string(),
    fc.domain(),
    fc.string({ unit: fc.constantFrom(..."aZ09-._:x\u212A\u0130") }),
  );
  fc.assert(
    fc.property(input, (text) => {
      let name: string;
      try {
        name = parseDomain(text);
      } catch (error) {
        assert.ok(error instanceof Auth4AgentError);
        assert.equal(error.code, "ERR_INVALID_DOMAIN");
        return;
      }
      assert.match(text, /^[\x21-\x7e]+$/, "accepted input is printable ASCII");
      assert.match(name, /^[a-z0-9.-]{1,231}$/);
      assert.equal(parseDomain(name), name);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("parseDomain: the longest domain is 231 characters, so its challenge record fits DNS's 253", () => {
  assert.equal(MAX_DOMAIN_LENGTH, 231);
  assert.equal(longest.length, 231);
  assert.equal(dnsRecordName(parseDomain(longest)).length, 253);
  assert.equal(parseDomain(`${longest}.`), longest);
  for (
    const input of [
      `${longest}b`,
      `${longest}b.`,
      [label63, label63, label63, "b".repeat(61)].join("."), // 253: fits DNS, not its record
    ]
  ) {
    assert.throws(() => parseDomain(input), code("ERR_INVALID_DOMAIN"), input);
  }
  // A long input is refused before any scan of its characters.
  assert.throws(
    () => parseDomain("a".repeat(1_000_000) + ".com"),
    code("ERR_INVALID_DOMAIN"),
  );
});

Deno.test("parseDomain: xn-- labels must be valid A-labels (punycode of an IDN)", () => {
  for (
    const name of [
      "xn--bcher-kva.example",
      "xn--mnchen-3ya.de",
      "xn--55qx5d.cn",
      "xn--hxajbheg2az3al.xn--jxalpdlp",
      "sub.xn--ls8h.la",
    ]
  ) {
    assert.equal(parseDomain(name), name);
  }
  assert.equal(parseDomain("XN--Bcher-KVA.Example."), "xn--bcher-kva.example");
  for (const name of ["xn--zz.com", "xn--a.com", "ok.xn--zz"]) {
    assert.throws(() => parseDomain(name), (error: unknown) => {
      code("ERR_INVALID_DOMAIN")(error);
      assert.match((error as Error).message, /A-label/);
      return true;
    }, name);
  }
});

Deno.test("parseDomain: the message for a non-ASCII domain escapes what it quotes", () => {
  assert.throws(
    () => parseDomain("exa\u202emple.com\u0085"),
    (error: unknown) => {
      code("ERR_INVALID_DOMAIN")(error);
      assert.doesNotMatch((error as Error).message, /[\u0080-\uffff]/);
      return true;
    },
  );
});
