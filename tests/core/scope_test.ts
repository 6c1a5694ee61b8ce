import assert from "node:assert/strict";
import fc from "fast-check";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  authorizeScopes,
  formatScope,
  MAX_SCOPE_LENGTH,
  MAX_SCOPES,
  parseScopeList,
  parseScopeParam,
} from "../../src/core/scope.ts";
import { code } from "./_helpers.ts";

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
const SCOPE_CHARS = Array.from(
  { length: 0x7e - 0x21 + 1 },
  (_, i) => String.fromCharCode(0x21 + i),
).filter((c) => c !== '"' && c !== "\\");
const scopeToken = fc.string({
  unit: fc.constantFrom(...SCOPE_CHARS),
  minLength: 1,
  maxLength: 20,
});

Deno.test("parseScopeParam reads single-space-separated scope tokens", () => {
  assert.deepEqual(parseScopeParam(""), []);
  assert.deepEqual(parseScopeParam("read:a"), ["read:a"]);
  assert.deepEqual(parseScopeParam("read:a write:b"), ["read:a", "write:b"]);
  assert.deepEqual(parseScopeParam("a b a"), ["a", "b"]);
  assert.deepEqual(parseScopeParam("!#[]~,"), ["!#[]~,"]);
});

Deno.test("parseScopeParam refuses other separators and characters", () => {
  const refused = [
    " ",
    "a  b",
    " a",
    "a ",
    "a\tb",
    "a\nb",
    'a"b',
    "a\\b",
    "caf\u00e9",
    "a\x7f",
    "a\x00",
  ];
  for (const input of refused) {
    assert.throws(
      () => parseScopeParam(input),
      code("ERR_INVALID_SCOPE_SYNTAX"),
      JSON.stringify(input),
    );
  }
});

Deno.test("scope limits: token length and number of scopes", () => {
  const longest = "s".repeat(MAX_SCOPE_LENGTH);
  assert.deepEqual(parseScopeParam(longest), [longest]);
  assert.throws(
    () => parseScopeParam(longest + "s"),
    code("ERR_INVALID_SCOPE_SYNTAX"),
  );
  const many = Array.from({ length: MAX_SCOPES }, (_, i) => `s${i}`);
  assert.equal(parseScopeParam(many.join(" ")).length, MAX_SCOPES);
  assert.throws(
    () => parseScopeParam([...many, "one-more"].join(" ")),
    code("ERR_INVALID_SCOPE_SYNTAX"),
  );
  assert.throws(
    () => parseScopeList([...many, "one-more"].join(",")),
    code("ERR_INVALID_SCOPE_SYNTAX"),
  );
});

Deno.test("parseScopeParam: property, formatted scope tokens parse back", () => {
  fc.assert(
    fc.property(fc.uniqueArray(scopeToken, { maxLength: 10 }), (tokens) => {
      assert.deepEqual(parseScopeParam(formatScope(tokens)), tokens);
    }),
  );
});

Deno.test("parseScopeParam: property, the result is valid tokens or ERR_INVALID_SCOPE_SYNTAX", () => {
  fc.assert(
    fc.property(fc.string(), (input) => {
      try {
        const tokens = parseScopeParam(input);
        assert.equal(
          formatScope(tokens),
          [...new Set(input.split(" "))].join(" "),
        );
        for (const token of tokens) {
          assert.match(token, /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/);
        }
      } catch (error) {
        assert.ok(error instanceof Auth4AgentError);
        assert.equal(error.code, "ERR_INVALID_SCOPE_SYNTAX");
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseScopeList takes spaces and commas, as the CLI does", () => {
  assert.deepEqual(parseScopeList("read:a,write:b"), ["read:a", "write:b"]);
  assert.deepEqual(parseScopeList("read:a write:b"), ["read:a", "write:b"]);
  assert.deepEqual(parseScopeList(" , read:a ,, write:b , "), [
    "read:a",
    "write:b",
  ]);
  assert.deepEqual(parseScopeList(["read:a", "write:b,read:a"]), [
    "read:a",
    "write:b",
  ]);
  assert.deepEqual(parseScopeList(""), []);
  assert.deepEqual(parseScopeList([]), []);
  assert.throws(
    () => parseScopeList('read:"a"'),
    code("ERR_INVALID_SCOPE_SYNTAX"),
  );
});

Deno.test("authorizeScopes: every requested scope must be granted", () => {
  const granted = ["read:a", "write:b"];
  assert.deepEqual(authorizeScopes(["write:b"], granted), ["write:b"]);
  assert.deepEqual(authorizeScopes(granted, granted), granted);
  assert.deepEqual(authorizeScopes([], granted), []);
  assert.deepEqual(authorizeScopes([], []), []);
  assert.throws(
    () => authorizeScopes(["read:a"], []),
    code("ERR_SCOPE_NOT_GRANTED"),
  );
  assert.throws(
    () => authorizeScopes(["read:a", "admin"], granted),
    (error: unknown) => {
      code("ERR_SCOPE_NOT_GRANTED")(error);
      assert.ok(
        (error as Error).message.includes('"admin"'),
        "names the scope",
      );
      assert.ok(!(error as Error).message.includes('"read:a"'));
      return true;
    },
  );
});

Deno.test("authorizeScopes: property, all of what was asked or an error, never less", () => {
  const scopes = fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e"));
  fc.assert(
    fc.property(scopes, scopes, (requested, granted) => {
      const allowed = requested.every((s) => granted.includes(s));
      try {
        assert.deepEqual(authorizeScopes(requested, granted), requested);
        assert.ok(allowed);
      } catch (error) {
        assert.ok(error instanceof Auth4AgentError);
        assert.equal(error.code, "ERR_SCOPE_NOT_GRANTED");
        assert.ok(!allowed);
      }
    }),
  );
});
