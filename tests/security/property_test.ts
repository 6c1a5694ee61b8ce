/**
 * Property tests (fast-check, fixed seeds): random mutations of a valid
 * access token — bit flips in the text or in the decoded bytes, parts
 * swapped or borrowed from another token, header and claim edits under the
 * original signature, truncations, insertions, other signatures — are never
 * accepted by `verifyAccessToken` and never make it throw anything but an
 * Auth4AgentError; introspection never calls one active; and random forms
 * and JSON bodies on the OAuth endpoints never yield a 5xx.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLIENT_ASSERTION_TYPE } from "../../src/core/client_assertion.ts";
import { base64url, fromBase64url, utf8 } from "../../src/core/encoding.ts";
import { Auth4AgentError, isErrorCode } from "../../src/core/errors.ts";
import { inspectJws } from "../../src/core/jws.ts";
import {
  assertNoInternalErrors,
  clientAuth,
  type Fixture,
  FORM,
  JSON_TYPE,
  send,
  withFixture,
} from "../serve/helpers.ts";
import { decode } from "./_forge.ts";
import { libraryVerify, type World, world } from "./_world.ts";

const SEED = 4_2026;

const HEADER_NAMES = [
  "alg",
  "typ",
  "kid",
  "crit",
  "b64",
  "jwk",
  "jku",
  "x5u",
  "x5c",
  "cty",
  "zip",
];
const CLAIM_NAMES = [
  "iss",
  "sub",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "scope",
  "client_id",
  "domain",
];

type Mutation =
  | { kind: "flip-char"; index: number; bit: number }
  | { kind: "flip-byte"; part: number; index: number; bit: number }
  | { kind: "reorder"; order: [number, number, number] }
  | { kind: "borrow"; part: number }
  | { kind: "set"; part: 0 | 1; name: string; value: unknown }
  | { kind: "delete"; part: 0 | 1; name: string }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; text: string }
  | { kind: "signature"; bytes: Uint8Array };

const partIndex = fc.integer({ min: 0, max: 2 });

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip-char" as const),
    index: fc.nat(),
    bit: fc.integer({ min: 0, max: 6 }),
  }),
  fc.record({
    kind: fc.constant("flip-byte" as const),
    part: partIndex,
    index: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({
    kind: fc.constant("reorder" as const),
    order: fc.tuple(partIndex, partIndex, partIndex),
  }),
  fc.record({ kind: fc.constant("borrow" as const), part: partIndex }),
  fc.record({
    kind: fc.constant("set" as const),
    part: fc.constant(0 as const),
    name: fc.oneof(fc.constantFrom(...HEADER_NAMES), fc.string()),
    value: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({
    kind: fc.constant("set" as const),
    part: fc.constant(1 as const),
    name: fc.oneof(fc.constantFrom(...CLAIM_NAMES), fc.string()),
    value: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    part: fc.constantFrom(0 as const, 1 as const),
    name: fc.constantFrom(...HEADER_NAMES, ...CLAIM_NAMES),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant("signature" as const),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
      fc.uint8Array({ maxLength: 100 }),
    ),
  }),
);

/** One mutation applied to `token`; `other` is a second real token to borrow from. */
function mutate(token: string, other: string, m: Mutation): string {
  const parts = token.split(".");
  switch (m.kind) {
    case "flip-char": {
      if (token.length === 0) return token;
      const i = m.index % token.length;
      const flipped = String.fromCharCode(token.charCodeAt(i) ^ (1 << m.bit));
      return token.slice(0, i) + flipped + token.slice(i + 1);
    }
    case "flip-byte": {
      const encoded = parts[m.part];
      if (encoded === undefined) return token;
      let bytes: Uint8Array;
      try {
        bytes = fromBase64url(encoded);
      } catch {
        return token;
      }
      if (bytes.length === 0) return token;
      bytes[m.index % bytes.length]! ^= 1 << m.bit;
      parts[m.part] = base64url(bytes);
      return parts.join(".");
    }
    case "reorder":
      return m.order.map((i) => parts[i] ?? "").join(".");
    case "borrow": {
      const borrowed = other.split(".")[m.part];
      if (borrowed === undefined || parts[m.part] === undefined) return token;
      parts[m.part] = borrowed;
      return parts.join(".");
    }
    case "set":
    case "delete": {
      let object: Record<string, unknown>;
      try {
        object = decode(parts[m.part] ?? "");
      } catch {
        return token;
      }
      if (typeof object !== "object" || object === null) return token;
      if (m.kind === "set") object[m.name] = m.value;
      else delete object[m.name];
      parts[m.part] = base64url(utf8(JSON.stringify(object)));
      return parts.join(".");
    }
    case "truncate":
      return token.slice(0, m.at % (token.length + 1));
    case "insert": {
      const at = m.at % (token.length + 1);
      return token.slice(0, at) + m.text + token.slice(at);
    }
    case "signature":
      if (parts.length < 3) return token;
      parts[2] = base64url(m.bytes);
      return parts.join(".");
  }
}

function mutatedToken(w: World): fc.Arbitrary<string> {
  const [token, other] = w.target.tokens;
  return fc.array(mutationArbitrary, { minLength: 1, maxLength: 3 })
    .map((mutations) => mutations.reduce((t, m) => mutate(t, other, m), token))
    .filter((t) => !w.target.tokens.includes(t));
}

Deno.test("property: no mutation of a valid token is accepted, and only Auth4AgentError is thrown", async () => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    // The unmutated token passes: the property is not vacuous.
    await libraryVerify(w, w.target.tokens[0]);
    let structurallyValid = 0;
    await fc.assert(
      fc.asyncProperty(mutatedToken(w), async (token) => {
        try {
          inspectJws(token, "ERR_TOKEN_INVALID");
          structurallyValid++;
        } catch { /* refused before any signature work */ }
        let error: unknown;
        try {
          const claims = await libraryVerify(w, token);
          assert.fail(`a mutated token was accepted: ${token} ${claims.jti}`);
        } catch (caught) {
          error = caught;
        }
        assert.ok(
          error instanceof Auth4AgentError,
          `not an Auth4AgentError: ${error}`,
        );
      }),
      { seed: SEED, numRuns: 3000 },
    );
    // Many mutations got past the structural checks to the signature check.
    assert.ok(structurallyValid > 300, `only ${structurallyValid} reached it`);
  });
});

async function assertNot5xx(
  fx: Fixture,
  response: Response,
  what: string,
): Promise<string> {
  const text = await response.text();
  assert.ok(response.status < 500, `${what} → ${response.status}: ${text}`);
  if (response.status >= 400) {
    const body = JSON.parse(text);
    assert.ok(
      typeof body.error_code === "string" && isErrorCode(body.error_code),
      `${what} → unknown error_code: ${text}`,
    );
  }
  assertNoInternalErrors(fx);
  return text;
}

Deno.test("property: introspection never calls a mutated token active", async () => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    await fc.assert(
      fc.asyncProperty(mutatedToken(w), async (token) => {
        const response = await send(fx, "/oauth/introspect", {
          method: "POST",
          headers: { "Content-Type": FORM },
          body: new URLSearchParams({
            token,
            ...await clientAuth(fx, w.agent.did, w.agent.pair.privateKey),
          }).toString(),
        });
        const text = await assertNot5xx(fx, response, "introspect");
        if (response.status === 200) {
          assert.deepEqual(JSON.parse(text), { active: false }, token);
        } else {
          // Only a token too long for the form is refused outright.
          assert.equal(JSON.parse(text).error_code, "ERR_INVALID_REQUEST");
        }
      }),
      { seed: SEED, numRuns: 400 },
    );
  });
});

/** Strings from the whole of Unicode, and a few that parsers trip on. */
const noise = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "%", "%ZZ", "\u0000", "null", "-1", "1e309", "[]"),
);

const FORM_FIELDS = [
  "grant_type",
  "client_id",
  "client_assertion_type",
  "client_assertion",
  "token",
  "token_type_hint",
  "scope",
  "audience",
  "resource",
  "expires_in",
  // Token exchange (RFC 8693) and delegation.
  "subject_token",
  "subject_token_type",
  "actor_token",
  "requested_token_type",
  "may_act",
];

const OAUTH_ROUTES = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"];

Deno.test("property: random forms and JSON bodies on the OAuth endpoints never yield a 5xx", async () => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const value = fc.oneof(
      noise,
      mutatedToken(w),
      fc.constantFrom(
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:token-type:access_token",
        CLIENT_ASSERTION_TYPE,
        w.agent.did,
        w.operator.id,
        ...w.target.tokens,
      ),
    );
    const body = fc.oneof(
      // Forms: known fields with near-valid values, plus random ones.
      fc.tuple(
        fc.dictionary(fc.constantFrom(...FORM_FIELDS), value),
        fc.array(fc.tuple(noise, value), { maxLength: 3 }),
        fc.boolean(),
      ).map(([fields, extra, withAuth]) => ({
        kind: "form" as const,
        fields: Object.entries(fields).concat(extra),
        withAuth,
      })),
      // JSON of any shape, sent as a form or as JSON.
      fc.tuple(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom(FORM, JSON_TYPE, "text/plain", ""),
      ).map(([json, type]) => ({ kind: "json" as const, json, type })),
    );
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...OAUTH_ROUTES),
        body,
        async (path, input) => {
          let init: RequestInit;
          if (input.kind === "form") {
            const form = new URLSearchParams(input.fields);
            if (input.withAuth) {
              for (
                const [name, v] of Object.entries(
                  await clientAuth(fx, w.agent.did, w.agent.pair.privateKey),
                )
              ) form.set(name, v);
            }
            init = {
              method: "POST",
              headers: { "Content-Type": FORM },
              body: form.toString(),
            };
          } else {
            init = {
              method: "POST",
              headers: input.type ? { "Content-Type": input.type } : {},
              body: JSON.stringify(input.json),
            };
          }
          const response = await send(fx, path, init);
          statuses.add(response.status);
          await assertNot5xx(fx, response, `POST ${path}`);
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
    // The inputs reached past the parsers: some requests succeeded.
    assert.ok(statuses.has(200), JSON.stringify([...statuses]));
    assert.ok(statuses.has(400) && statuses.has(401) && statuses.has(415));
  });
});
