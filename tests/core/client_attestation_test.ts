/**
 * Client attestation (draft-ietf-oauth-attestation-based-client-auth): an
 * attestation and its PoP, minted by jose as a third-party attester and
 * client instance would, verify; each check of §7.1 and §7.2 (and of our
 * profile) refuses a pair that differs from a good one in that one thing.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  ATTESTATION_ALGS,
  ATTESTATION_POP_MAX_AGE_SECONDS,
  ATTESTATION_POP_TYP,
  ATTESTATION_TYP,
  createAttestationPop,
  inspectAttestation,
  MAX_ATTESTATION_AGE_SECONDS,
  type VerifiedAttestation,
  verifyAttestation,
  type VerifyAttestationOptions,
} from "../../src/core/client_attestation.ts";
import { base64url, fromBase64url, utf8 } from "../../src/core/encoding.ts";
import { foreignKey } from "../../src/core/foreign_keys.ts";
import { CLOCK_LEEWAY_SECONDS } from "../../src/core/jws.ts";
import { code, jsonPart, NOW, NOW_S, signJwt } from "./_helpers.ts";

type Json = Record<string, unknown>;
type AttesterAlg = "ES256" | "EdDSA" | "RS256";

const ISSUER = "https://issuer.example";
const ATTESTER = "https://attester.example";
const CLIENT = "did:agent:example.com:0123456789abcdef0123456789abcdef";

const invalid = code("ERR_CLIENT_ATTESTATION_INVALID");
const stale = code("ERR_CLIENT_ATTESTATION_STALE");

/** An attester: its signing key, its published JWK and the ForeignKey built from it. */
async function attester(alg: AttesterAlg) {
  const pair = await jose.generateKeyPair(alg, {
    extractable: true,
    ...(alg === "RS256" && { modulusLength: 2048 }),
  });
  const publicJwk = { ...await jose.exportJWK(pair.publicKey), kid: "a1" };
  return {
    alg,
    privateKey: pair.privateKey,
    publicJwk,
    key: foreignKey(publicJwk, alg),
  };
}

const attesters = {
  ES256: await attester("ES256"),
  EdDSA: await attester("EdDSA"),
  RS256: await attester("RS256"),
};
const es = attesters.ES256;
const attesterStranger = await attester("ES256");

/** A client instance's key pair (what cnf.jwk names) and its public JWK. */
async function instance(alg: "EdDSA" | "ES256" | "RS256") {
  const pair = await jose.generateKeyPair(alg, { extractable: true });
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    publicJwk: await jose.exportJWK(pair.publicKey),
    privateJwk: await jose.exportJWK(pair.privateKey),
  };
}

const ed = await instance("EdDSA");
const edStranger = await instance("EdDSA");
const p256 = await instance("ES256");
const p256Stranger = await instance("ES256");

/** Drops the members given as undefined. */
function without(value: Json): Json {
  for (const [name, member] of Object.entries(value)) {
    if (member === undefined) delete value[name];
  }
  return value;
}

/** The claims of a good attestation at NOW bound to `ed`, with `changes`. */
function claims(changes: Json = {}): Json {
  return without({
    iss: ATTESTER,
    sub: CLIENT,
    iat: NOW_S - 60,
    exp: NOW_S + 3600,
    cnf: { jwk: ed.publicJwk },
    ...changes,
  });
}

/** The claims of a good PoP at NOW, with `changes`. */
function popClaims(changes: Json = {}): Json {
  return without({ aud: ISSUER, jti: "pop-1", iat: NOW_S, ...changes });
}

/** An attestation minted by jose with an attester's key (ES256 unless told). */
async function attest(
  payload: Json = claims(),
  options: { alg?: AttesterAlg; header?: Json } = {},
): Promise<string> {
  const { alg, privateKey } = attesters[options.alg ?? "ES256"];
  const header = without({
    alg,
    kid: "a1",
    typ: ATTESTATION_TYP,
    ...options.header,
  });
  return await signJwt(
    payload,
    header as jose.JWTHeaderParameters,
    privateKey,
  );
}

/** A PoP minted by jose with an instance key (`ed`, EdDSA unless told). */
async function pop(
  payload: Json = popClaims(),
  options: { privateKey?: CryptoKey; alg?: string; header?: Json } = {},
): Promise<string> {
  const header = without({
    alg: options.alg ?? "EdDSA",
    typ: ATTESTATION_POP_TYP,
    ...options.header,
  });
  return await signJwt(
    payload,
    header as jose.JWTHeaderParameters,
    options.privateKey ?? ed.privateKey,
  );
}

/** The signature algorithm WebCrypto signs with for `key`. */
function webCryptoAlg(key: CryptoKey): AlgorithmIdentifier | EcdsaParams {
  return key.algorithm.name === "ECDSA"
    ? { name: "ECDSA", hash: "SHA-256" }
    : key.algorithm.name;
}

/**
 * A JWS with any header as given (nothing added, nothing checked): signed
 * Ed25519, ECDSA P-256 (r||s) or RSASSA-PKCS1-v1_5 SHA-256 by `key`.
 */
async function handMade(
  header: Json,
  payload: Json,
  key: CryptoKey,
): Promise<string> {
  const input = `${jsonPart(without(header))}.${jsonPart(payload)}`;
  const signature = await crypto.subtle.sign(
    webCryptoAlg(key),
    key,
    utf8(input),
  );
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/** The header of a good ES256 attestation, with `changes`. */
function attestationHeader(changes: Json = {}): Json {
  return { alg: "ES256", kid: "a1", typ: ATTESTATION_TYP, ...changes };
}

/** The header of a good EdDSA PoP, with `changes`. */
function popHeader(changes: Json = {}): Json {
  return { alg: "EdDSA", typ: ATTESTATION_POP_TYP, ...changes };
}

/** Inspects then verifies `attestation` with `popValue`, by default with the ES256 attester's key. */
function check(
  attestation: string,
  popValue: string,
  options: Partial<VerifyAttestationOptions> = {},
): VerifiedAttestation {
  return verifyAttestation(inspectAttestation(attestation), {
    attesterKey: es.key,
    pop: popValue,
    clientId: CLIENT,
    issuer: ISSUER,
    now: NOW,
    ...options,
  });
}

/** A good attestation with `changes` to its claims, checked with a good PoP. */
async function checkClaims(changes: Json): Promise<VerifiedAttestation> {
  return check(await attest(claims(changes)), await pop());
}

/** A good attestation checked with a PoP of `changes` to its claims. */
async function checkPopClaims(changes: Json): Promise<VerifiedAttestation> {
  return check(await attest(), await pop(popClaims(changes)));
}

/** A good attestation bound to `ed`, made once for the PoP tests. */
const ATTESTATION_FIXTURE = await attest();
/** A good PoP by `ed`, made once. */
const POP_FIXTURE = await pop();

const REPLAY_WINDOW = ATTESTATION_POP_MAX_AGE_SECONDS +
  2 * CLOCK_LEEWAY_SECONDS;

// --- the profile's constants ----------------------------------------------

Deno.test("client attestation: typ values, algorithms and ages are the profile's", () => {
  assert.equal(ATTESTATION_TYP, "oauth-client-attestation+jwt");
  assert.equal(ATTESTATION_POP_TYP, "oauth-client-attestation-pop+jwt");
  assert.deepEqual([...ATTESTATION_ALGS], [
    "ES256",
    "EdDSA",
    "Ed25519",
    "RS256",
  ]);
  assert.equal(MAX_ATTESTATION_AGE_SECONDS, 86_400);
  assert.equal(ATTESTATION_POP_MAX_AGE_SECONDS, 60);
});

// --- pairs that verify ------------------------------------------------------

for (const alg of ["ES256", "EdDSA", "RS256"] as const) {
  Deno.test(`client attestation: an attestation signed ${alg} by its attester verifies`, async () => {
    const attestation = await attest(claims(), { alg });
    const inspected = inspectAttestation(attestation);
    assert.equal(inspected.iss, ATTESTER);
    assert.equal(inspected.kid, "a1");
    assert.equal(inspected.alg, alg);
    assert.equal(inspected.payload.sub, CLIENT);
    const verified = check(attestation, await pop(), {
      attesterKey: attesters[alg].key,
    });
    assert.equal(verified.iss, ATTESTER);
    assert.equal(verified.exp, NOW_S + 3600);
  });
}

Deno.test("client attestation: alg Ed25519 (EdDSA's other name) verifies for the attestation and the PoP", async () => {
  const attestation = await attest(claims(), {
    alg: "EdDSA",
    header: { alg: "Ed25519" },
  });
  const inspected = inspectAttestation(attestation);
  assert.equal(inspected.alg, "Ed25519");
  const verified = verifyAttestation(inspected, {
    attesterKey: foreignKey(attesters.EdDSA.publicJwk, "Ed25519"),
    pop: await pop(popClaims(), { alg: "Ed25519" }),
    clientId: CLIENT,
    issuer: ISSUER,
    now: NOW,
  });
  assert.equal(verified.iss, ATTESTER);
});

Deno.test("client attestation: an Ed25519 instance key with a PoP from createAttestationPop gives iss, jkt, exp, popJti, popReplayableUntil", async () => {
  const popValue = createAttestationPop({
    audience: ISSUER,
    privateKey: ed.privateKey,
    now: NOW,
  });
  const verified = check(await attest(), popValue);
  const jti = jose.decodeJwt(popValue).jti;
  assert.equal(typeof jti, "string");
  assert.deepEqual(verified, {
    iss: ATTESTER,
    jkt: await jose.calculateJwkThumbprint(ed.publicJwk),
    exp: NOW_S + 3600,
    popJti: jti,
    popReplayableUntil: NOW_S + REPLAY_WINDOW,
  });
  assert.ok(!("popChallenge" in verified));
});

Deno.test("client attestation: an ES256 instance key with a jose PoP verifies; jkt is its RFC 7638 thumbprint", async () => {
  const attestation = await attest(claims({ cnf: { jwk: p256.publicJwk } }));
  const popValue = await pop(popClaims({ jti: "es-pop" }), {
    alg: "ES256",
    privateKey: p256.privateKey,
  });
  const verified = check(attestation, popValue);
  assert.deepEqual(verified, {
    iss: ATTESTER,
    jkt: await jose.calculateJwkThumbprint(p256.publicJwk),
    exp: NOW_S + 3600,
    popJti: "es-pop",
    popReplayableUntil: NOW_S + REPLAY_WINDOW,
  });
});

Deno.test("client attestation: an RS256 instance key with a jose PoP verifies", async () => {
  const rsa = await instance("RS256");
  const attestation = await attest(claims({ cnf: { jwk: rsa.publicJwk } }));
  const popValue = await pop(popClaims(), {
    alg: "RS256",
    privateKey: rsa.privateKey,
  });
  const verified = check(attestation, popValue);
  assert.equal(verified.jkt, await jose.calculateJwkThumbprint(rsa.publicJwk));
});

Deno.test("client attestation: the jkt ignores cnf.jwk's optional members (kid, use, alg)", async () => {
  const jwk = {
    ...p256.publicJwk,
    kid: "instance-1",
    use: "sig",
    alg: "ES256",
  };
  const attestation = await attest(claims({ cnf: { jwk } }));
  const popValue = await pop(popClaims(), {
    alg: "ES256",
    privateKey: p256.privateKey,
  });
  assert.equal(
    check(attestation, popValue).jkt,
    await jose.calculateJwkThumbprint(p256.publicJwk),
  );
});

Deno.test("client attestation: popReplayableUntil follows the PoP's iat", async () => {
  const verified = await checkPopClaims({ iat: NOW_S - 45 });
  assert.equal(verified.popReplayableUntil, NOW_S - 45 + REPLAY_WINDOW);
  // It outlasts the last instant the PoP is accepted.
  assert.ok(
    verified.popReplayableUntil >
      NOW_S - 45 + ATTESTATION_POP_MAX_AGE_SECONDS + CLOCK_LEEWAY_SECONDS,
  );
});

Deno.test("client attestation: a PoP's challenge is given as popChallenge", async () => {
  const fromJose = await checkPopClaims({ challenge: "chal-123" });
  assert.equal(fromJose.popChallenge, "chal-123");
  assert.equal(fromJose.popJti, "pop-1");
  const ours = createAttestationPop({
    audience: ISSUER,
    privateKey: ed.privateKey,
    now: NOW,
    challenge: "chal-456",
  });
  assert.equal(check(await attest(), ours).popChallenge, "chal-456");
  const longest = await checkPopClaims({ challenge: "c".repeat(256) });
  assert.equal(longest.popChallenge, "c".repeat(256));
});

Deno.test("client attestation: typ is accepted case-insensitively and with application/", async () => {
  for (
    const typ of [
      "OAuth-Client-Attestation+JWT",
      "application/oauth-client-attestation+jwt",
      "APPLICATION/OAUTH-CLIENT-ATTESTATION+JWT",
    ]
  ) {
    const attestation = await attest(claims(), { header: { typ } });
    assert.equal(check(attestation, await pop()).iss, ATTESTER, typ);
  }
  for (
    const typ of [
      "OAuth-Client-Attestation-PoP+JWT",
      "application/oauth-client-attestation-pop+jwt",
    ]
  ) {
    const popValue = await pop(popClaims(), { header: { typ } });
    assert.equal(check(await attest(), popValue).iss, ATTESTER, typ);
  }
});

Deno.test("client attestation: whitespace around a header value is trimmed", async () => {
  const verified = check(` ${await attest()} `, ` ${await pop()}\t`);
  assert.equal(verified.iss, ATTESTER);
});

Deno.test("client attestation: an attestation without kid is inspected with kid undefined", async () => {
  const attestation = await attest(claims(), { header: { kid: undefined } });
  const inspected = inspectAttestation(attestation);
  assert.equal(inspected.kid, undefined);
  assert.equal(check(attestation, await pop()).iss, ATTESTER);
});

// --- the attestation: its form (inspectAttestation) -------------------------

Deno.test("client attestation: empty or not a compact JWS is refused", async () => {
  const [h, p, s] = (await attest()).split(".");
  for (const value of ["", "abc", `${h}.${p}`, `${h}.${p}.${s}.${s}`]) {
    assert.throws(() => inspectAttestation(value), invalid, value);
  }
});

Deno.test("client attestation: a missing or wrong typ is refused", async () => {
  for (
    const typ of [
      undefined,
      "JWT",
      "dpop+jwt",
      ATTESTATION_POP_TYP,
      "oauth-client-attestation",
      "",
    ]
  ) {
    const attestation = await attest(claims(), { header: { typ } });
    assert.throws(() => inspectAttestation(attestation), invalid, String(typ));
  }
  const nonString = await handMade(
    attestationHeader({ typ: [ATTESTATION_TYP] }),
    claims(),
    es.privateKey,
  );
  assert.throws(() => inspectAttestation(nonString), invalid, "array typ");
});

Deno.test("client attestation: alg none, HS256 or an unknown alg is refused", async () => {
  // Each is signed ES256 by the attester all the same: only the alg is wrong.
  for (const alg of ["none", "HS256", "ES384", "PS256", "es256", undefined]) {
    const attestation = await handMade(
      attestationHeader({ alg }),
      claims(),
      es.privateKey,
    );
    assert.throws(
      () => check(attestation, POP_FIXTURE),
      invalid,
      String(alg),
    );
    assert.throws(() => inspectAttestation(attestation), invalid, String(alg));
  }
  const unsigned = `${jsonPart(attestationHeader({ alg: "none" }))}.${
    jsonPart(claims())
  }.`;
  assert.throws(() => inspectAttestation(unsigned), invalid, "unsigned");
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const hs256 = await new jose.SignJWT(claims())
    .setProtectedHeader({ alg: "HS256", typ: ATTESTATION_TYP })
    .sign(secret);
  assert.throws(() => inspectAttestation(hs256), invalid, "jose HS256");
});

for (
  const [name, value] of Object.entries({
    jwk: es.publicJwk,
    jku: "https://attacker.example/jwks",
    x5c: ["MIIB"],
    x5u: "https://attacker.example/cert.pem",
    crit: ["exp"],
  })
) {
  Deno.test(`client attestation: header ${name} is refused`, async () => {
    const attestation = await handMade(
      attestationHeader({ [name]: value }),
      claims(),
      es.privateKey,
    );
    assert.throws(() => inspectAttestation(attestation), invalid, name);
  });
}

Deno.test("client attestation: a kid that is not a string of at most 256 characters is refused", async () => {
  for (const kid of [5, null, ["a1"], { id: "a1" }, true, "k".repeat(257)]) {
    const attestation = await handMade(
      attestationHeader({ kid }),
      claims(),
      es.privateKey,
    );
    assert.throws(
      () => inspectAttestation(attestation),
      invalid,
      JSON.stringify(kid).slice(0, 20),
    );
  }
  const longest = await attest(claims(), { header: { kid: "k".repeat(256) } });
  assert.equal(inspectAttestation(longest).kid, "k".repeat(256));
});

Deno.test("client attestation: no iss, an empty, non-string or over-512-character iss is refused", async () => {
  for (const iss of [undefined, "", 7, [ATTESTER], null, "i".repeat(513)]) {
    const attestation = await attest(claims({ iss }));
    assert.throws(
      () => inspectAttestation(attestation),
      invalid,
      String(iss).slice(0, 20),
    );
  }
  const longest = await attest(claims({ iss: "i".repeat(512) }));
  assert.equal(inspectAttestation(longest).iss, "i".repeat(512));
});

Deno.test("client attestation: two attestation header values joined by a comma are refused", async () => {
  // No comma is base64url, so the JWS parse would refuse these too: the
  // outcome is pinned here, not the comma check alone.
  const attestation = await attest();
  for (
    const value of [
      `${attestation},${attestation}`,
      `${attestation}, ${attestation}`,
      `${attestation},`,
    ]
  ) {
    assert.throws(() => inspectAttestation(value), invalid, value.slice(-20));
  }
});

// --- the attestation: signature and claims (verifyAttestation) ----------------

Deno.test("client attestation: an attestation signed by another key than its attester's is refused", async () => {
  const other = await handMade(
    attestationHeader(),
    claims(),
    attesterStranger.privateKey,
  );
  assert.throws(() => check(other, POP_FIXTURE), invalid, "another key");
  // The right attester's key of another algorithm does not verify it either.
  const good = await attest();
  assert.throws(
    () => check(good, POP_FIXTURE, { attesterKey: attesters.EdDSA.key }),
    invalid,
    "EdDSA key",
  );
  // The right key but a payload changed after signing.
  const [h, , s] = good.split(".");
  const tampered = `${h}.${jsonPart(claims({ sub: "did:agent:x" }))}.${s}`;
  assert.throws(
    () => check(tampered, POP_FIXTURE, { clientId: "did:agent:x" }),
    invalid,
    "tampered",
  );
  const [, p] = good.split(".");
  assert.throws(() => check(`${h}.${p}.`, POP_FIXTURE), invalid, "empty");
});

Deno.test("client attestation: a sub that is not the client is refused", async () => {
  for (
    const sub of [
      undefined,
      "did:agent:example.com:ffffffffffffffffffffffffffffffff",
      CLIENT.toUpperCase(),
      "",
      [CLIENT],
    ]
  ) {
    await assert.rejects(checkClaims({ sub }), invalid, String(sub));
  }
  const attestation = await attest();
  assert.throws(
    () => check(attestation, POP_FIXTURE, { clientId: "did:agent:other" }),
    invalid,
  );
});

Deno.test("client attestation: no exp (or a non-integer one) is refused as invalid", async () => {
  for (const exp of [undefined, String(NOW_S + 3600), NOW_S + 0.5, null]) {
    await assert.rejects(checkClaims({ exp }), invalid, String(exp));
  }
});

Deno.test("client attestation: an expired attestation is refused as stale; within the leeway accepted", async () => {
  const last = await checkClaims({ exp: NOW_S - CLOCK_LEEWAY_SECONDS + 1 });
  assert.equal(last.exp, NOW_S - CLOCK_LEEWAY_SECONDS + 1);
  for (const exp of [NOW_S - CLOCK_LEEWAY_SECONDS, NOW_S - 3600]) {
    await assert.rejects(
      checkClaims({ exp, iat: exp - 600 }),
      stale,
      String(exp - NOW_S),
    );
  }
});

Deno.test("client attestation: no iat is refused", async () => {
  await assert.rejects(checkClaims({ iat: undefined }), invalid);
  await assert.rejects(checkClaims({ iat: null }), invalid, "null");
  await assert.rejects(checkClaims({ iat: String(NOW_S) }), invalid, "string");
});

Deno.test("client attestation: issued more than 24 h ago is refused as stale", async () => {
  const oldest = await checkClaims({
    iat: NOW_S - MAX_ATTESTATION_AGE_SECONDS,
  });
  assert.equal(oldest.iss, ATTESTER);
  for (
    const iat of [
      NOW_S - MAX_ATTESTATION_AGE_SECONDS - 1,
      NOW_S - 30 * 86_400,
    ]
  ) {
    await assert.rejects(checkClaims({ iat }), stale, String(iat - NOW_S));
  }
});

Deno.test("client attestation: issued in the future beyond the 30 s leeway is refused", async () => {
  const edge = await checkClaims({ iat: NOW_S + CLOCK_LEEWAY_SECONDS });
  assert.equal(edge.iss, ATTESTER);
  for (const iat of [NOW_S + CLOCK_LEEWAY_SECONDS + 1, NOW_S + 3000]) {
    await assert.rejects(checkClaims({ iat }), invalid, String(iat - NOW_S));
  }
});

Deno.test("client attestation: nbf in the future beyond the leeway is refused", async () => {
  const edge = await checkClaims({ nbf: NOW_S + CLOCK_LEEWAY_SECONDS });
  assert.equal(edge.iss, ATTESTER);
  assert.equal((await checkClaims({ nbf: NOW_S - 60 })).iss, ATTESTER);
  for (const nbf of [NOW_S + CLOCK_LEEWAY_SECONDS + 1, NOW_S + 600]) {
    await assert.rejects(checkClaims({ nbf }), invalid, String(nbf - NOW_S));
  }
});

Deno.test("client attestation: no cnf, or a cnf without a jwk object, is refused", async () => {
  for (
    const cnf of [
      undefined,
      null,
      {},
      "cnf",
      { jkt: await jose.calculateJwkThumbprint(ed.publicJwk) },
      { jwk: null },
      { jwk: "eyJrdHkiOiJPS1AifQ" },
      { jwk: [ed.publicJwk] },
      [ed.publicJwk],
    ]
  ) {
    await assert.rejects(
      checkClaims({ cnf }),
      invalid,
      JSON.stringify(cnf)?.slice(0, 30),
    );
  }
});

Deno.test("client attestation: a cnf.jwk holding an Ed25519 private key (d) is refused", async () => {
  assert.ok("d" in ed.privateJwk);
  await assert.rejects(checkClaims({ cnf: { jwk: ed.privateJwk } }), invalid);
});

Deno.test("client attestation: a cnf.jwk holding a P-256 private key (d) is refused", async () => {
  assert.ok("d" in p256.privateJwk);
  const attestation = await attest(claims({ cnf: { jwk: p256.privateJwk } }));
  const popValue = await pop(popClaims(), {
    alg: "ES256",
    privateKey: p256.privateKey,
  });
  assert.throws(() => check(attestation, popValue), invalid);
});

Deno.test("client attestation: a cnf.jwk of another key type than the PoP's alg is refused", async () => {
  // cnf.jwk is P-256; the PoP says EdDSA (and is signed Ed25519).
  const ecBound = await attest(claims({ cnf: { jwk: p256.publicJwk } }));
  assert.throws(() => check(ecBound, POP_FIXTURE), invalid, "EC for EdDSA");
  // cnf.jwk is Ed25519; the PoP says ES256 (and is signed P-256).
  const esPop = await pop(popClaims(), {
    alg: "ES256",
    privateKey: p256.privateKey,
  });
  assert.throws(
    () => check(ATTESTATION_FIXTURE, esPop),
    invalid,
    "OKP for ES256",
  );
  // cnf.jwk declares alg ES256; the PoP says EdDSA.
  const mislabelled = await attest(
    claims({ cnf: { jwk: { ...ed.publicJwk, alg: "ES256" } } }),
  );
  assert.throws(() => check(mislabelled, POP_FIXTURE), invalid, "alg member");
});

Deno.test("client attestation: a cnf.jwk that is no valid public key is refused", async () => {
  for (
    const jwk of [
      { kty: "OKP", crv: "Ed25519" },
      { kty: "OKP", crv: "X25519", x: ed.publicJwk.x },
      { ...ed.publicJwk, x: "AAAA" },
      { ...ed.publicJwk, use: "enc" },
      { kty: "oct", k: "c2VjcmV0" },
    ]
  ) {
    await assert.rejects(
      checkClaims({ cnf: { jwk } }),
      invalid,
      JSON.stringify(jwk).slice(0, 40),
    );
  }
});

// --- the PoP ------------------------------------------------------------------

Deno.test("client attestation PoP: a wrong or missing typ is refused", async () => {
  for (
    const typ of [
      "dpop+jwt",
      undefined,
      "JWT",
      ATTESTATION_TYP,
      "oauth-client-attestation-pop",
      "",
    ]
  ) {
    const popValue = await pop(popClaims(), { header: { typ } });
    assert.throws(
      () => check(ATTESTATION_FIXTURE, popValue),
      invalid,
      String(typ),
    );
  }
});

Deno.test("client attestation PoP: an alg outside ES256, EdDSA, Ed25519, RS256 is refused", async () => {
  // Each is signed Ed25519 by the attested key all the same: only alg is wrong.
  for (
    const alg of ["none", "HS256", "ES384", "PS256", "eddsa", "EdDSA2", 256]
  ) {
    const popValue = await handMade(
      popHeader({ alg }),
      popClaims(),
      ed.privateKey,
    );
    assert.throws(
      () => check(ATTESTATION_FIXTURE, popValue),
      invalid,
      String(alg),
    );
  }
  const noAlg = await handMade(
    popHeader({ alg: undefined }),
    popClaims(),
    ed.privateKey,
  );
  assert.throws(() => check(ATTESTATION_FIXTURE, noAlg), invalid, "no alg");
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const hs256 = await new jose.SignJWT(popClaims())
    .setProtectedHeader({ alg: "HS256", typ: ATTESTATION_POP_TYP })
    .sign(secret);
  assert.throws(() => check(ATTESTATION_FIXTURE, hs256), invalid, "HS256");
});

Deno.test("client attestation PoP: header crit is refused", async () => {
  const popValue = await handMade(
    popHeader({ crit: ["exp"] }),
    popClaims(),
    ed.privateKey,
  );
  assert.throws(() => check(ATTESTATION_FIXTURE, popValue), invalid);
});

Deno.test("client attestation PoP: signed by another key than cnf.jwk is refused", async () => {
  const edOther = await pop(popClaims(), { privateKey: edStranger.privateKey });
  assert.throws(() => check(ATTESTATION_FIXTURE, edOther), invalid, "EdDSA");
  const ecBound = await attest(claims({ cnf: { jwk: p256.publicJwk } }));
  const esOther = await pop(popClaims(), {
    alg: "ES256",
    privateKey: p256Stranger.privateKey,
  });
  assert.throws(() => check(ecBound, esOther), invalid, "ES256");
  // A PoP naming its own jwk in its header is still checked against cnf.jwk.
  const selfNamed = await handMade(
    popHeader({ jwk: edStranger.publicJwk }),
    popClaims(),
    edStranger.privateKey,
  );
  assert.throws(() => check(ATTESTATION_FIXTURE, selfNamed), invalid, "jwk");
  // A good PoP's payload changed after signing, or its signature dropped.
  const [h, p, s] = (await pop()).split(".");
  const tampered = `${h}.${jsonPart(popClaims({ jti: "pop-2" }))}.${s}`;
  assert.throws(() => check(ATTESTATION_FIXTURE, tampered), invalid, "tamper");
  assert.throws(() => check(ATTESTATION_FIXTURE, `${h}.${p}.`), invalid, "");
});

Deno.test("client attestation PoP: a non-canonical Ed25519 signature (S + L) is refused", async () => {
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const [header, payload, signature] = (await pop()).split(".");
  const raw = fromBase64url(signature!);
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(raw[32 + i]!);
  s += L;
  const malleated = Uint8Array.from(raw);
  for (let i = 0; i < 32; i++) {
    malleated[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  }
  assert.throws(
    () =>
      check(
        ATTESTATION_FIXTURE,
        `${header}.${payload}.${base64url(malleated)}`,
      ),
    invalid,
  );
});

Deno.test("client attestation PoP: aud missing, another value or several values is refused", async () => {
  for (
    const aud of [
      undefined,
      "https://other.example",
      `${ISSUER}/`,
      ISSUER.toUpperCase(),
      [ISSUER, "https://other.example"],
      [ISSUER, ISSUER],
      [],
      ["https://other.example"],
      [[ISSUER]],
      null,
      42,
    ]
  ) {
    await assert.rejects(checkPopClaims({ aud }), invalid, JSON.stringify(aud));
  }
});

Deno.test("client attestation PoP: aud as an array of exactly the issuer is accepted", async () => {
  assert.equal((await checkPopClaims({ aud: [ISSUER] })).iss, ATTESTER);
  // The aud is compared with the issuer option, not with a constant.
  assert.throws(
    () =>
      check(ATTESTATION_FIXTURE, POP_FIXTURE, {
        issuer: "https://other.example",
      }),
    invalid,
  );
});

Deno.test("client attestation PoP: no iat is refused", async () => {
  for (const iat of [undefined, null, String(NOW_S), NOW_S + 0.5]) {
    await assert.rejects(checkPopClaims({ iat }), invalid, String(iat));
  }
});

Deno.test("client attestation PoP: iat older than 60 s plus the 30 s leeway is refused", async () => {
  const oldest = ATTESTATION_POP_MAX_AGE_SECONDS + CLOCK_LEEWAY_SECONDS;
  assert.equal((await checkPopClaims({ iat: NOW_S - oldest })).iss, ATTESTER);
  for (const age of [oldest + 1, 3600]) {
    await assert.rejects(
      checkPopClaims({ iat: NOW_S - age }),
      invalid,
      `${age}`,
    );
    // A far exp does not make an old PoP fresh.
    await assert.rejects(
      checkPopClaims({ iat: NOW_S - age, exp: NOW_S + 3600 }),
      invalid,
      `${age} with exp`,
    );
  }
});

Deno.test("client attestation PoP: iat in the future beyond the leeway is refused", async () => {
  const edge = await checkPopClaims({ iat: NOW_S + CLOCK_LEEWAY_SECONDS });
  assert.equal(edge.popReplayableUntil, NOW_S + 30 + REPLAY_WINDOW);
  for (const ahead of [CLOCK_LEEWAY_SECONDS + 1, 3600]) {
    await assert.rejects(
      checkPopClaims({ iat: NOW_S + ahead }),
      invalid,
      `${ahead}`,
    );
  }
});

Deno.test("client attestation PoP: an expired exp, if present, is refused", async () => {
  assert.equal((await checkPopClaims({ exp: NOW_S + 60 })).iss, ATTESTER);
  const last = NOW_S - CLOCK_LEEWAY_SECONDS + 1;
  assert.equal((await checkPopClaims({ exp: last })).iss, ATTESTER);
  for (const exp of [NOW_S - CLOCK_LEEWAY_SECONDS, NOW_S - 60]) {
    await assert.rejects(
      checkPopClaims({ exp, iat: NOW_S - 10 }),
      invalid,
      `${exp - NOW_S}`,
    );
  }
});

Deno.test("client attestation PoP: nbf in the future beyond the leeway is refused", async () => {
  const edge = await checkPopClaims({ nbf: NOW_S + CLOCK_LEEWAY_SECONDS });
  assert.equal(edge.iss, ATTESTER);
  await assert.rejects(
    checkPopClaims({ nbf: NOW_S + CLOCK_LEEWAY_SECONDS + 1 }),
    invalid,
  );
});

Deno.test("client attestation PoP: jti missing, empty, over 256 characters or not a string is refused", async () => {
  for (const jti of [undefined, "", "j".repeat(257), 42, null, ["pop-1"]]) {
    await assert.rejects(
      checkPopClaims({ jti }),
      invalid,
      String(jti).slice(0, 20),
    );
  }
  const longest = await checkPopClaims({ jti: "j".repeat(256) });
  assert.equal(longest.popJti, "j".repeat(256));
});

Deno.test("client attestation PoP: a challenge that is not a string of 1 to 256 characters is refused", async () => {
  for (
    const challenge of [42, "", null, ["chal"], { c: "chal" }, "c".repeat(257)]
  ) {
    await assert.rejects(
      checkPopClaims({ challenge }),
      invalid,
      JSON.stringify(challenge).slice(0, 20),
    );
  }
});

Deno.test("client attestation PoP: two PoP header values joined by a comma are refused", async () => {
  // No comma is base64url, so the JWS parse would refuse these too: the
  // outcome is pinned here, not the comma check alone.
  const popValue = await pop();
  for (
    const value of [
      `${popValue},${popValue}`,
      `${popValue}, ${popValue}`,
      `${popValue},`,
    ]
  ) {
    assert.throws(
      () => check(ATTESTATION_FIXTURE, value),
      invalid,
      value.slice(-20),
    );
  }
});

Deno.test("client attestation PoP: missing or not a compact JWS is refused", async () => {
  const [h, p, s] = (await pop()).split(".");
  for (const value of ["", "abc", `${h}.${p}`, `${h}.${p}.${s}.${s}`]) {
    assert.throws(() => check(ATTESTATION_FIXTURE, value), invalid, value);
  }
});

// --- createAttestationPop ----------------------------------------------------

Deno.test("createAttestationPop: typ oauth-client-attestation-pop+jwt, alg EdDSA, aud, jti and iat", () => {
  const popValue = createAttestationPop({
    audience: ISSUER,
    privateKey: ed.privateKey,
    now: NOW,
  });
  assert.deepEqual(jose.decodeProtectedHeader(popValue), {
    alg: "EdDSA",
    typ: ATTESTATION_POP_TYP,
  });
  const payload = jose.decodeJwt(popValue);
  assert.deepEqual(Object.keys(payload).sort(), ["aud", "iat", "jti"]);
  assert.equal(payload.aud, ISSUER);
  assert.equal(payload.iat, NOW_S);
  assert.equal(typeof payload.jti, "string");
  assert.ok((payload.jti as string).length >= 16);
  assert.ok((payload.jti as string).length <= 256);
});

Deno.test("createAttestationPop: iat is the whole second of now", () => {
  const popValue = createAttestationPop({
    audience: ISSUER,
    privateKey: ed.privateKey,
    now: new Date(NOW.getTime() + 999),
  });
  assert.equal(jose.decodeJwt(popValue).iat, NOW_S);
});

Deno.test("createAttestationPop: a challenge, when given, is a claim", () => {
  const popValue = createAttestationPop({
    audience: ISSUER,
    privateKey: ed.privateKey,
    now: NOW,
    challenge: "chal-789",
  });
  assert.equal(jose.decodeJwt(popValue).challenge, "chal-789");
});

Deno.test("createAttestationPop: each PoP has its own jti", () => {
  const jtis = new Set<unknown>();
  for (let i = 0; i < 20; i++) {
    const popValue = createAttestationPop({
      audience: ISSUER,
      privateKey: ed.privateKey,
      now: NOW,
    });
    jtis.add(jose.decodeJwt(popValue).jti);
  }
  assert.equal(jtis.size, 20);
});

Deno.test("createAttestationPop: jose verifies it with the instance's public key", async () => {
  const popValue = createAttestationPop({
    audience: ISSUER,
    privateKey: ed.privateKey,
    now: NOW,
    challenge: "chal-abc",
  });
  const { payload, protectedHeader } = await jose.jwtVerify(
    popValue,
    ed.publicKey,
    {
      algorithms: ["EdDSA"],
      typ: ATTESTATION_POP_TYP,
      audience: ISSUER,
      currentDate: NOW,
      maxTokenAge: ATTESTATION_POP_MAX_AGE_SECONDS,
    },
  );
  assert.equal(protectedHeader.alg, "EdDSA");
  assert.equal(payload.challenge, "chal-abc");
  await assert.rejects(
    jose.jwtVerify(popValue, edStranger.publicKey, { currentDate: NOW }),
    jose.errors.JWSSignatureVerificationFailed,
  );
});
