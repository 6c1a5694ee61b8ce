/**
 * Workload tokens (RFC 7523 §3): a platform's JWT, minted by jose with an
 * RS256, ES256 or EdDSA key, is parsed without trust (inspectWorkloadToken)
 * then checked with the key the platform publishes (verifyWorkloadToken);
 * each check refuses a token that differs from a good one in that alone.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { base64url, fromBase64url, utf8 } from "../../src/core/encoding.ts";
import { type ForeignAlg, foreignKey } from "../../src/core/foreign_keys.ts";
import {
  inspectWorkloadToken,
  MAX_WORKLOAD_TOKEN_REMAINING_SECONDS,
  requireAudience,
  verifyWorkloadToken,
  type WorkloadClaims,
} from "../../src/core/workload_token.ts";
import { code, jsonPart, NOW, NOW_S, signJwt } from "./_helpers.ts";

type Json = Record<string, unknown>;
type Alg = "RS256" | "ES256" | "EdDSA";

const ISS = "https://token.actions.example.com";
const SUB = "repo:acme/deploy:ref:refs/heads/main";
const AUD = "https://issuer.example";

const invalid = code("ERR_WORKLOAD_TOKEN_INVALID");

async function platform(alg: Alg) {
  const pair = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...await jose.exportJWK(pair.publicKey), kid: "k1" };
  return { alg, privateKey: pair.privateKey, publicJwk };
}

const platforms = {
  RS256: await platform("RS256"),
  ES256: await platform("ES256"),
  EdDSA: await platform("EdDSA"),
};
const rs = platforms.RS256;
const stranger = await platform("RS256");

/** The claims of a good token at NOW, with `changes` (undefined drops one). */
function claims(changes: Json = {}): Json {
  return without({
    iss: ISS,
    sub: SUB,
    aud: [AUD],
    iat: NOW_S,
    exp: NOW_S + 600,
    ...changes,
  });
}

/** The header of a good RS256 token, with `changes` (undefined drops one). */
function header(changes: Json = {}): Json {
  return without({ alg: "RS256", kid: "k1", typ: "JWT", ...changes });
}

function without(value: Json): Json {
  for (const [name, member] of Object.entries(value)) {
    if (member === undefined) delete value[name];
  }
  return value;
}

/** A token minted by jose with the platform's key. */
async function mint(
  payload: Json = claims(),
  options: { alg?: Alg; header?: Json } = {},
): Promise<string> {
  const { alg, privateKey } = platforms[options.alg ?? "RS256"];
  return await signJwt(
    payload,
    { alg, kid: "k1", ...options.header } as jose.JWTHeaderParameters,
    privateKey,
  );
}

/**
 * A token with any header as given (nothing added, nothing checked), signed
 * RSASSA-PKCS1-v1_5 SHA-256 with `privateKey` (jose would refuse some).
 */
async function handMade(
  head: Json,
  payload: Json = claims(),
  privateKey: CryptoKey = rs.privateKey,
): Promise<string> {
  const input = `${jsonPart(head)}.${jsonPart(payload)}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    privateKey,
    utf8(input),
  );
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/** Inspects then verifies `token` with the key of `alg`'s platform at `now`. */
function check(
  token: string,
  options: { alg?: ForeignAlg; jwk?: jose.JWK; now?: Date } = {},
): WorkloadClaims {
  const inspected = inspectWorkloadToken(token);
  const alg = options.alg ?? inspected.alg;
  const jwk = options.jwk ??
    platforms[alg === "Ed25519" ? "EdDSA" : alg].publicJwk;
  return verifyWorkloadToken(inspected, foreignKey(jwk, alg), {
    now: options.now ?? NOW,
  });
}

// --- good tokens --------------------------------------------------------------

Deno.test("workload token: a good RS256, ES256 or EdDSA token gives its iss, sub, aud and exp", async () => {
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    const token = await mint(claims(), { alg });
    const inspected = inspectWorkloadToken(token);
    assert.equal(inspected.iss, ISS);
    assert.equal(inspected.kid, "k1");
    assert.equal(inspected.alg, alg);
    assert.deepEqual(check(token), {
      iss: ISS,
      sub: SUB,
      aud: [AUD],
      exp: NOW_S + 600,
    });
  }
});

Deno.test("workload token: a single string aud is given as an array", async () => {
  const token = await mint(claims({ aud: AUD }));
  assert.deepEqual(check(token).aud, [AUD]);
  const several = await mint(claims({ aud: ["a", AUD, "b"] }));
  assert.deepEqual(check(several).aud, ["a", AUD, "b"]);
});

Deno.test("workload token: alg Ed25519 is EdDSA's other name", async () => {
  const { privateKey } = platforms.EdDSA;
  const token = await signJwt(claims(), { alg: "Ed25519" }, privateKey);
  assert.equal(inspectWorkloadToken(token).alg, "Ed25519");
  assert.equal(inspectWorkloadToken(token).kid, undefined);
  assert.equal(check(token).sub, SUB);
});

// --- inspect: the token's form ------------------------------------------------

Deno.test("workload token: missing, empty or non-string is refused", () => {
  for (const value of [undefined, null, "", 42, {}, ["a.b.c"]]) {
    assert.throws(() => inspectWorkloadToken(value), invalid, String(value));
  }
});

Deno.test("workload token: more than 8192 characters is refused", async () => {
  // A good token but for its size: a long claim, as long as fits and one more.
  const sized = (pad: number) => mint(claims({ pad: "x".repeat(pad) }));
  const unpadded = (await sized(0)).length;
  let pad = Math.floor((8192 - unpadded) * 3 / 4) - 8;
  while ((await sized(pad + 1)).length <= 8192) pad++;
  const longest = await sized(pad);
  const tooLong = await sized(pad + 1);
  assert.ok(longest.length <= 8192 && longest.length > 8180, "the bound");
  assert.ok(tooLong.length > 8192);
  assert.equal(check(longest).sub, SUB);
  assert.throws(() => inspectWorkloadToken(tooLong), invalid);
});

Deno.test("workload token: not three parts is refused", async () => {
  const token = await mint();
  const [h, p, s] = token.split(".");
  for (
    const value of [
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${p}.${s}.${s}.${s}`, // JWE-shaped
      "abc",
    ]
  ) assert.throws(() => inspectWorkloadToken(value), invalid, value);
});

Deno.test("workload token: a header or payload not base64url JSON objects is refused", async () => {
  const [h, p, s] = (await mint()).split(".");
  for (
    const value of [
      `${h}=.${p}.${s}`,
      `${jsonPart(["alg"])}.${p}.${s}`,
      `${h}.${base64url(utf8("not json"))}.${s}`,
      `${h}.${jsonPart("iss")}.${s}`,
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s}+`,
    ]
  ) assert.throws(() => inspectWorkloadToken(value), invalid, value);
});

Deno.test("workload token: alg none, HS256, PS256 or none at all is refused", async () => {
  const none = `${jsonPart(header({ alg: "none" }))}.${jsonPart(claims())}.`;
  assert.throws(() => inspectWorkloadToken(none), invalid, "none");
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const hs256 = await new jose.SignJWT(claims())
    .setProtectedHeader({ alg: "HS256" })
    .sign(secret);
  assert.throws(() => inspectWorkloadToken(hs256), invalid, "HS256");
  const ps = await jose.generateKeyPair("PS256");
  const ps256 = await signJwt(claims(), { alg: "PS256" }, ps.privateKey);
  assert.throws(() => inspectWorkloadToken(ps256), invalid, "PS256");
  for (const alg of [undefined, "rs256", "ES384", "RS512", 256]) {
    const token = await handMade(header({ alg }));
    assert.throws(() => inspectWorkloadToken(token), invalid, String(alg));
  }
});

Deno.test("workload token: a header naming its own key (jwk, jku, x5u, x5c) or crit is refused", async () => {
  const headers: Json = {
    jwk: rs.publicJwk,
    jku: "https://attacker.example/jwks",
    x5u: "https://attacker.example/cert.pem",
    x5c: ["MIIB"],
    crit: ["exp"],
    b64: false,
  };
  for (const [name, value] of Object.entries(headers)) {
    const token = await handMade(header({ [name]: value }));
    assert.throws(() => inspectWorkloadToken(token), invalid, name);
  }
});

Deno.test("workload token: typ of a DPoP proof, a delegation or a status list is refused", async () => {
  for (
    const typ of [
      "dpop+jwt",
      "delegation+jwt",
      "statuslist+jwt",
      "application/dpop+jwt",
      "DPoP+JWT",
      "",
    ]
  ) {
    const token = await mint(claims(), { header: { typ } });
    assert.throws(() => inspectWorkloadToken(token), invalid, typ);
  }
});

Deno.test("workload token: no typ, JWT, JOSE or at+jwt is accepted", async () => {
  for (
    const typ of [
      undefined,
      "JWT",
      "jwt",
      "JOSE",
      "at+jwt",
      "application/at+jwt",
    ]
  ) {
    const token = await mint(claims(), { header: { typ } });
    assert.equal(check(token).sub, SUB, String(typ));
  }
});

Deno.test("workload token: a kid that is not a string of at most 256 characters is refused", async () => {
  for (const kid of [5, null, ["k1"], { id: "k1" }, "k".repeat(257)]) {
    const token = await handMade(header({ kid }));
    assert.throws(() => inspectWorkloadToken(token), invalid, String(kid));
  }
  const longest = await mint(claims(), { header: { kid: "k".repeat(256) } });
  assert.equal(inspectWorkloadToken(longest).kid, "k".repeat(256));
});

Deno.test("workload token: no iss, an empty or non-string one is refused", async () => {
  for (const iss of [undefined, "", 7, [ISS]]) {
    const token = await mint(claims({ iss }));
    assert.throws(() => inspectWorkloadToken(token), invalid, String(iss));
  }
});

// --- verify: signature --------------------------------------------------------

Deno.test("workload token: a signature that does not verify with the platform's key is refused", async () => {
  const other = await handMade(header(), claims(), stranger.privateKey);
  assert.throws(() => check(other), invalid, "another key");
  const [h, p, s] = (await mint()).split(".") as [string, string, string];
  const tampered = `${h}.${jsonPart(claims({ sub: "repo:acme/other" }))}.${s}`;
  assert.throws(() => check(tampered), invalid, "another payload");
  assert.throws(() => check(`${h}.${p}.`), invalid, "no signature");
  const short = base64url(fromBase64url(s).subarray(1));
  assert.throws(() => check(`${h}.${p}.${short}`), invalid, "255 bytes");
  const es256 = await mint(claims(), { alg: "ES256" });
  const esStranger = await platform("ES256");
  assert.throws(
    () => check(es256, { alg: "ES256", jwk: esStranger.publicJwk }),
    invalid,
  );
});

// --- verify: times ------------------------------------------------------------

Deno.test("workload token: exp missing or not an integer is refused", async () => {
  for (const exp of [undefined, NOW_S + 600.5, String(NOW_S + 600), null]) {
    const token = await mint(claims({ exp }));
    assert.throws(() => check(token), invalid, String(exp));
  }
});

Deno.test("workload token: expired beyond the 30 s leeway is refused, within it accepted", async () => {
  assert.equal(check(await mint(claims({ exp: NOW_S - 29 }))).sub, SUB);
  for (const exp of [NOW_S - 30, NOW_S - 3600]) {
    const token = await mint(claims({ exp, iat: exp - 600 }));
    assert.throws(() => check(token), invalid, String(exp - NOW_S));
  }
});

Deno.test("workload token: exp more than a day ahead is refused", async () => {
  assert.equal(MAX_WORKLOAD_TOKEN_REMAINING_SECONDS, 86_400);
  const day = await mint(claims({ exp: NOW_S + 86_400 }));
  assert.equal(check(day).exp, NOW_S + 86_400);
  for (const ahead of [86_401, 365 * 86_400]) {
    const token = await mint(claims({ exp: NOW_S + ahead }));
    assert.throws(() => check(token), invalid, String(ahead));
  }
});

Deno.test("workload token: nbf or iat in the future (beyond the leeway) is refused", async () => {
  assert.equal(check(await mint(claims({ nbf: NOW_S + 30 }))).sub, SUB);
  assert.equal(check(await mint(claims({ iat: NOW_S + 30 }))).sub, SUB);
  for (const changes of [{ nbf: NOW_S + 31 }, { iat: NOW_S + 31 }]) {
    const token = await mint(claims(changes));
    assert.throws(() => check(token), invalid, JSON.stringify(changes));
  }
  for (const changes of [{ nbf: "0" }, { iat: 1.5 }]) {
    const token = await mint(claims(changes));
    assert.throws(() => check(token), invalid, JSON.stringify(changes));
  }
});

// --- verify: sub, aud, cnf ----------------------------------------------------

Deno.test("workload token: sub missing, empty, longer than 1024 or not a string is refused", async () => {
  for (const sub of [undefined, "", "s".repeat(1025), 42, [SUB]]) {
    const token = await mint(claims({ sub }));
    assert.throws(() => check(token), invalid, String(sub).slice(0, 20));
  }
  const longest = await mint(claims({ sub: "s".repeat(1024) }));
  assert.equal(check(longest).sub, "s".repeat(1024));
});

Deno.test("workload token: aud missing, empty, of more than 16 entries or non-strings is refused", async () => {
  const many = (count: number) =>
    Array.from({ length: count }, (_, i) => `aud-${i}`);
  for (
    const aud of [
      undefined,
      [],
      many(17),
      [42],
      [AUD, 42],
      [AUD, null],
      [[AUD]],
      42,
      { aud: AUD },
    ]
  ) {
    const token = await mint(claims({ aud }));
    assert.throws(() => check(token), invalid, JSON.stringify(aud));
  }
  assert.deepEqual(check(await mint(claims({ aud: many(16) }))).aud, many(16));
});

Deno.test("workload token: a cnf claim (a token bound to a key) is refused", async () => {
  for (
    const cnf of [
      { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" },
      { "x5t#S256": "abc" },
      {},
      null,
    ]
  ) {
    const token = await mint(claims({ cnf }));
    assert.throws(() => check(token), invalid, JSON.stringify(cnf));
  }
});

Deno.test("workload token: requireAudience accepts a listed audience and refuses others", async () => {
  const got = check(await mint(claims({ aud: ["other", AUD] })));
  requireAudience(got, AUD);
  requireAudience(got, "other");
  for (
    const audience of [
      `${AUD}/`,
      AUD.toUpperCase(),
      "https://issuer.example.evil",
      "https://issuer",
      "",
    ]
  ) {
    assert.throws(() => requireAudience(got, audience), invalid, audience);
  }
});

Deno.test("workload token: a delegated token (act), a delegation (may_act) or one whose client_id is not its sub is no identity of its sub", async () => {
  const actor = "did:agent:example.com:0123456789abcdef0123456789abcdef";
  for (
    const changes of [
      { act: { sub: actor } },
      { may_act: { sub: actor } },
      { client_id: actor },
    ]
  ) {
    const token = await mint(claims(changes));
    assert.throws(() => check(token), invalid, JSON.stringify(changes));
  }
  // client_id equal to sub (an auth4agent agent's own token) is fine.
  assert.equal(check(await mint(claims({ client_id: SUB }))).sub, SUB);
});
