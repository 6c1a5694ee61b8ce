import assert from "node:assert/strict";
import fc from "fast-check";
import {
  base64url,
  fromBase64url,
  fromUtf8,
  utf8,
} from "../../src/core/encoding.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { inspectJws, MAX_JWS_LENGTH, nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { code, jsonPart, NOW, NOW_S, signJwt } from "./_helpers.ts";

const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const { privateKey } = await generateKeyPair();
const TOKEN = await signJwt(
  { sub: "x" },
  { alg: "EdDSA", typ: "JWT" },
  privateKey,
);
const { publicJwk } = await generateKeyPair();
const [, , SIGNATURE] = TOKEN.split(".") as [string, string, string];

/** A compact JWS with this header and payload and a well-formed (not matching) signature. */
function forge(header: unknown, payload: unknown = {}, signature = SIGNATURE) {
  return `${jsonPart(header)}.${jsonPart(payload)}.${signature}`;
}

/** The signature with S replaced by S + delta (little-endian, bytes 32..63). */
function shiftS(signature: string, delta: bigint): string {
  const bytes = fromBase64url(signature);
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(bytes[i]!);
  s += delta;
  for (let i = 32; i < 64; i++, s >>= 8n) bytes[i] = Number(s & 0xffn);
  return base64url(bytes);
}

const refused = (token: unknown, message?: string) =>
  assert.throws(
    () => inspectJws(token, "ERR_TOKEN_INVALID"),
    code("ERR_TOKEN_INVALID"),
    message ?? String(token),
  );

Deno.test("inspectJws returns header and payload of a compact EdDSA JWS", () => {
  const parts = inspectJws(TOKEN, "ERR_TOKEN_INVALID");
  assert.deepEqual(parts.header, { alg: "EdDSA", typ: "JWT" });
  assert.deepEqual(parts.payload, { sub: "x" });
  const [h, p, s] = TOKEN.split(".");
  assert.equal(fromUtf8(parts.signingInput), `${h}.${p}`);
  assert.equal(parts.signature.length, 64);
  assert.ok(s);
  assert.deepEqual(
    inspectJws(forge({ alg: "Ed25519" }), "ERR_TOKEN_INVALID").header,
    { alg: "Ed25519" },
  );
});

Deno.test("inspectJws throws the caller's error code", () => {
  assert.throws(
    () => inspectJws("x", "ERR_ASSERTION_INVALID"),
    code("ERR_ASSERTION_INVALID"),
  );
});

Deno.test("inspectJws refuses every alg but EdDSA and Ed25519", () => {
  for (
    const alg of [
      "none",
      "None",
      "NONE",
      "HS256",
      "RS256",
      "ES256",
      "eddsa",
      "EdDSA ",
      "",
    ]
  ) {
    refused(forge({ alg }), alg);
  }
  refused(forge({}), "missing alg");
  refused(forge({ alg: ["EdDSA"] }), "alg array");
});

Deno.test("inspectJws refuses headers that choose their own key, crit and b64", () => {
  for (
    const extra of [
      { jwk: publicJwk },
      { jku: "https://evil.example/jwks" },
      { x5u: "https://evil.example/cert" },
      { x5c: ["MIIB"] },
      { x5t: "abc" },
      { "x5t#S256": "abc" },
      { crit: ["exp"], exp: 1 },
      { b64: false, crit: ["b64"] },
      { b64: true },
    ]
  ) {
    refused(forge({ alg: "EdDSA", ...extra }), JSON.stringify(extra));
  }
  // A jwk header is read only where the caller allows it.
  const withJwk = forge({ alg: "EdDSA", jwk: publicJwk });
  assert.deepEqual(
    inspectJws(withJwk, "ERR_TOKEN_INVALID", { allowJwk: true }).header.jwk,
    publicJwk,
  );
});
Deno.test("inspectJws refuses other serializations and part counts", () => {
  const [h, p, s] = TOKEN.split(".");
  refused(
    JSON.stringify({ protected: h, payload: p, signature: s }),
    "JSON serialization",
  );
  refused(`${h}.${p}`, "two parts");
  refused(`${h}.${p}.${s}.${s}`, "four parts");
  refused(`${h}..${s}`, "empty payload");
  refused("");
  refused(undefined);
  refused(42);
  refused(null);
});

Deno.test("inspectJws refuses anything longer than MAX_JWS_LENGTH unread", () => {
  let pad = "x".repeat(6000);
  let token = forge({ alg: "EdDSA" }, { pad });
  while (token.length <= MAX_JWS_LENGTH) {
    assert.ok(inspectJws(token, "ERR_TOKEN_INVALID"));
    pad += "x";
    token = forge({ alg: "EdDSA" }, { pad });
  }
  assert.ok(pad.length > 6000 && token.length <= MAX_JWS_LENGTH + 4);
  refused(token, "oversize");
});

Deno.test("inspectJws refuses bad base64url in any part", () => {
  const [h, p, s] = TOKEN.split(".") as [string, string, string];
  const padded = (part: string) =>
    part + "=".repeat((4 - (part.length % 4)) % 4 || 4);
  // {"alg":"EdDSA","pad":"???"} encodes with "_": the same in the standard alphabet.
  const urlHeader = jsonPart({ alg: "EdDSA", pad: "???" });
  assert.match(urlHeader, /_/);
  assert.ok(inspectJws(`${urlHeader}.${p}.${s}`, "ERR_TOKEN_INVALID"));
  for (
    const token of [
      `${urlHeader.replaceAll("_", "/")}.${p}.${s}`,
      `${padded(h)}.${p}.${s}`,
      `${h}.${padded(p)}.${s}`,
      `${h}.${p}.${s}==`,
      `${h}.${p}.${s.slice(0, -1)}+`,
      `${h}.*${p}.${s}`,
      `${h} .${p}.${s}`,
    ]
  ) {
    refused(token);
  }
});

Deno.test("inspectJws refuses headers and payloads that are not JSON objects", () => {
  const raw = (text: string) => base64url(utf8(text));
  const notObjects = ["[]", '"EdDSA"', "null", "1", "true", "{", "{} x", ""];
  for (const text of notObjects) {
    refused(`${raw(text)}.${jsonPart({})}.${SIGNATURE}`, `header ${text}`);
    refused(
      `${jsonPart({ alg: "EdDSA" })}.${raw(text)}.${SIGNATURE}`,
      `payload ${text}`,
    );
  }
  const invalidUtf8 = base64url(new Uint8Array([0x7b, 0xff, 0x7d]));
  refused(`${invalidUtf8}.${jsonPart({})}.${SIGNATURE}`, "invalid UTF-8");
});

Deno.test("inspectJws refuses signatures of the wrong length", () => {
  const header = { alg: "EdDSA" };
  for (const length of [0, 32, 63, 65, 128]) {
    refused(
      forge(header, {}, base64url(new Uint8Array(length))),
      `${length} bytes`,
    );
  }
});

Deno.test("inspectJws refuses non-canonical signatures (S >= L)", () => {
  const [h, p] = TOKEN.split(".");
  refused(`${h}.${p}.${shiftS(SIGNATURE, L)}`, "S + L");
  const zeroS = base64url(new Uint8Array(64));
  refused(forge({ alg: "EdDSA" }, {}, shiftS(zeroS, L)), "S = L");
  assert.ok(
    inspectJws(
      forge({ alg: "EdDSA" }, {}, shiftS(zeroS, L - 1n)),
      "ERR_TOKEN_INVALID",
    ),
  );
});

Deno.test("inspectJws: property, S is refused exactly when S >= L (BigInt reference)", () => {
  const zeroS = base64url(new Uint8Array(64));
  // S near L (every byte of it matters), and anywhere in 256 bits.
  const s = fc.oneof(
    fc.bigInt({ min: L - (1n << 64n), max: L + (1n << 64n) }),
    fc.bigInt({ min: L - 256n, max: L + 256n }),
    fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
  );
  fc.assert(
    fc.property(s, (value) => {
      const token = forge({ alg: "EdDSA" }, {}, shiftS(zeroS, value));
      if (value >= L) refused(token, `S = ${value}`);
      else assert.ok(inspectJws(token, "ERR_TOKEN_INVALID"));
    }),
    { numRuns: 3000 },
  );
});

Deno.test("inspectJws: property, arbitrary input only ever throws Auth4AgentError", () => {
  const part = fc.oneof(
    fc.string(),
    fc.json().map((text) => base64url(utf8(text))),
    fc.constantFrom(...TOKEN.split(".")),
  );
  const token = fc.oneof(
    fc.string(),
    fc.array(part, { minLength: 1, maxLength: 4 }).map((parts) =>
      parts.join(".")
    ),
  );
  fc.assert(
    fc.property(token, (input) => {
      try {
        inspectJws(input, "ERR_TOKEN_INVALID", { allowJwk: true });
      } catch (error) {
        assert.ok(error instanceof Auth4AgentError, String(error));
        assert.equal(error.code, "ERR_TOKEN_INVALID");
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("nowSeconds floors to whole seconds", () => {
  assert.equal(nowSeconds(NOW), NOW_S);
  assert.equal(nowSeconds(new Date(NOW.getTime() + 999)), NOW_S);
});
