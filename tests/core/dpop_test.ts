/**
 * DPoP proofs (RFC 9449): ours and jose's verify, and each check of §4.3
 * refuses a proof that differs from a valid one in that one thing alone.
 */
import assert from "node:assert/strict";
import { createHash, createHmac, KeyObject, sign } from "node:crypto";
import * as jose from "jose";
import {
  accessTokenHash,
  createDpopProof,
  DPOP_MAX_AGE_SECONDS,
  targetUri,
  verifyDpopProof,
  type VerifyDpopProofOptions,
} from "../../src/core/dpop.ts";
import { base64url, fromBase64url, utf8 } from "../../src/core/encoding.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { at, code, jsonPart, NOW, NOW_S } from "./_helpers.ts";

const URL_ = "https://issuer.example/oauth/token";
const METHOD = "POST";

const ed = await generateKeyPair();
const edStranger = await generateKeyPair();
const es = await jose.generateKeyPair("ES256", { extractable: true });
const esJwk = await jose.exportJWK(es.publicKey);
const esPrivateJwk = await jose.exportJWK(es.privateKey);
const esStranger = await jose.generateKeyPair("ES256");

const invalid = code("ERR_DPOP_PROOF_INVALID");

type Json = Record<string, unknown>;

/** The header of a valid hand-made EdDSA proof, with `changes` (undefined drops a member). */
function edHeader(changes: Json = {}): Json {
  return { typ: "dpop+jwt", alg: "EdDSA", jwk: ed.publicJwk, ...changes };
}

/** The header of a valid hand-made ES256 proof, with `changes`. */
function esHeader(changes: Json = {}): Json {
  return { typ: "dpop+jwt", alg: "ES256", jwk: esJwk, ...changes };
}

/** The claims of a valid proof for METHOD URL_ at NOW, with `changes`. */
function claims(changes: Json = {}): Json {
  return { jti: "jti-1", htm: METHOD, htu: URL_, iat: NOW_S, ...changes };
}

/** The signature algorithm WebCrypto signs with for `key`. */
function webCryptoAlg(key: CryptoKey): AlgorithmIdentifier | EcdsaParams {
  switch (key.algorithm.name) {
    case "ECDSA":
      return { name: "ECDSA", hash: "SHA-256" };
    default:
      return key.algorithm.name;
  }
}

/** `header.payload` of a compact JWS, each part the base64url of its JSON. */
function signingInput(header: Json, payload: Json): string {
  return `${jsonPart(header)}.${jsonPart(payload)}`;
}

/**
 * Signs any header and payload as given (nothing added, nothing checked):
 * Ed25519, ECDSA P-256 (64-byte r||s), RSASSA-PKCS1-v1_5 or HMAC, by the key.
 */
async function signParts(
  header: Json,
  payload: Json,
  key: CryptoKey,
): Promise<string> {
  const input = signingInput(header, payload);
  const signature = new Uint8Array(
    await crypto.subtle.sign(webCryptoAlg(key), key, utf8(input)),
  );
  return `${input}.${base64url(signature)}`;
}

function edProof(header: Json = edHeader(), payload: Json = claims()) {
  return signParts(header, payload, ed.privateKey);
}

function esProof(header: Json = esHeader(), payload: Json = claims()) {
  return signParts(header, payload, es.privateKey);
}

function verify(
  proof: string | null,
  options: Partial<VerifyDpopProofOptions> = {},
) {
  return verifyDpopProof(proof, {
    method: METHOD,
    url: URL_,
    now: NOW,
    ...options,
  });
}

function b64json(text: string): string {
  return base64url(utf8(text));
}

// --- Proofs that verify --------------------------------------------------

Deno.test("dpop: a proof from createDpopProof verifies; jkt is the key's RFC 7638 thumbprint", async () => {
  const proof = createDpopProof({
    method: METHOD,
    url: URL_,
    privateKey: ed.privateKey,
    publicJwk: ed.publicJwk,
    now: NOW,
  });
  const verified = verify(proof);
  assert.equal(verified.jkt, await jose.calculateJwkThumbprint(ed.publicJwk));
  assert.equal(typeof verified.jti, "string");
  assert.ok(verified.jti.length > 0);
  assert.equal(verified.replayableUntil, NOW_S + DPOP_MAX_AGE_SECONDS);
});

Deno.test("dpop: createDpopProof writes typ, alg, jwk and the claims of RFC 9449 §4.2", () => {
  const proof = createDpopProof({
    method: "post",
    url: `${URL_}?x=1#frag`,
    privateKey: ed.privateKey,
    publicJwk: { ...ed.publicJwk, kid: "k1", alg: "EdDSA", use: "sig" },
    now: NOW,
  });
  const header = jose.decodeProtectedHeader(proof);
  assert.deepEqual(header, {
    alg: "EdDSA",
    typ: "dpop+jwt",
    jwk: { kty: "OKP", crv: "Ed25519", x: ed.publicJwk.x },
  });
  const payload = jose.decodeJwt(proof);
  assert.deepEqual(Object.keys(payload).sort(), ["htm", "htu", "iat", "jti"]);
  assert.equal(payload.htm, "POST");
  assert.equal(payload.htu, URL_);
  assert.equal(payload.iat, NOW_S);
});

Deno.test("dpop: each proof from createDpopProof has its own jti", () => {
  const input = {
    method: METHOD,
    url: URL_,
    privateKey: ed.privateKey,
    publicJwk: ed.publicJwk,
    now: NOW,
  };
  assert.notEqual(
    verify(createDpopProof(input)).jti,
    verify(createDpopProof(input)).jti,
  );
});

Deno.test("dpop: createDpopProof with an access token carries its ath", () => {
  const proof = createDpopProof({
    method: "GET",
    url: "https://api.example/resource",
    privateKey: ed.privateKey,
    publicJwk: ed.publicJwk,
    now: NOW,
    accessToken: "token-1",
  });
  assert.equal(jose.decodeJwt(proof).ath, accessTokenHash("token-1"));
  verify(proof, {
    method: "GET",
    url: "https://api.example/resource",
    accessToken: "token-1",
  });
});

Deno.test("dpop: an ES256 proof made by jose verifies; jkt is jose's thumbprint", async () => {
  const key = await jose.generateKeyPair("ES256");
  const jwk = await jose.exportJWK(key.publicKey);
  const proof = await new jose.SignJWT({ htm: METHOD, htu: URL_ })
    .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk })
    .setJti(crypto.randomUUID())
    .setIssuedAt(NOW_S)
    .sign(key.privateKey);
  const verified = verify(proof);
  assert.equal(verified.jkt, await jose.calculateJwkThumbprint(jwk));
  assert.equal(verified.replayableUntil, NOW_S + DPOP_MAX_AGE_SECONDS);
});

Deno.test("dpop: an EdDSA proof made by jose verifies; jkt is jose's thumbprint", async () => {
  const key = await jose.generateKeyPair("EdDSA");
  const jwk = await jose.exportJWK(key.publicKey);
  const proof = await new jose.SignJWT({ htm: METHOD, htu: URL_ })
    .setProtectedHeader({ alg: "EdDSA", typ: "dpop+jwt", jwk })
    .setJti(crypto.randomUUID())
    .setIssuedAt(NOW_S)
    .sign(key.privateKey);
  assert.equal(verify(proof).jkt, await jose.calculateJwkThumbprint(jwk));
});

Deno.test("dpop: an Ed25519 (RFC 9864 alg name) proof made by jose verifies", async () => {
  const key = await jose.generateKeyPair("Ed25519");
  const jwk = await jose.exportJWK(key.publicKey);
  const proof = await new jose.SignJWT({ htm: METHOD, htu: URL_ })
    .setProtectedHeader({ alg: "Ed25519", typ: "dpop+jwt", jwk })
    .setJti(crypto.randomUUID())
    .setIssuedAt(NOW_S)
    .sign(key.privateKey);
  assert.equal(verify(proof).jkt, await jose.calculateJwkThumbprint(jwk));
});

Deno.test("dpop: the hand-made baseline proofs verify (EdDSA and ES256)", async () => {
  const edVerified = verify(await edProof());
  assert.deepEqual(edVerified, {
    jkt: await jose.calculateJwkThumbprint(ed.publicJwk),
    jti: "jti-1",
    replayableUntil: NOW_S + DPOP_MAX_AGE_SECONDS,
  });
  const esVerified = verify(await esProof());
  assert.deepEqual(esVerified, {
    jkt: await jose.calculateJwkThumbprint(esJwk),
    jti: "jti-1",
    replayableUntil: NOW_S + DPOP_MAX_AGE_SECONDS,
  });
});

// --- §4.3 steps 1-2: one well-formed JWT ---------------------------------

Deno.test("dpop: a missing proof (null) is refused", () => {
  assert.throws(() => verify(null), invalid);
});

Deno.test("dpop: an empty proof is refused", () => {
  assert.throws(() => verify(""), invalid);
});

Deno.test("dpop: two header values joined by ', ' are refused", async () => {
  const proof = await edProof();
  assert.throws(() => verify(`${proof}, ${proof}`), invalid);
  const other = await edProof(edHeader(), claims({ jti: "jti-2" }));
  assert.throws(() => verify(`${proof}, ${other}`), invalid);
});

Deno.test("dpop: a proof of two parts is refused", async () => {
  const [header, payload] = (await edProof()).split(".");
  assert.throws(() => verify(`${header}.${payload}`), invalid);
});

Deno.test("dpop: a proof of four parts is refused", async () => {
  const proof = await edProof();
  assert.throws(() => verify(`${proof}.${proof.split(".")[2]}`), invalid);
});

Deno.test("dpop: a proof in JWE form (five parts) is refused", async () => {
  const proof = await edProof();
  assert.throws(() => verify(`${proof}.AAAA.AAAA`), invalid);
});

Deno.test("dpop: a header that is not JSON is refused", async () => {
  const input = `${b64json("{not json")}.${jsonPart(claims())}`;
  const signature = new Uint8Array(
    await crypto.subtle.sign("Ed25519", ed.privateKey, utf8(input)),
  );
  assert.throws(() => verify(`${input}.${base64url(signature)}`), invalid);
});

Deno.test("dpop: a payload that is not JSON is refused", async () => {
  const input = `${jsonPart(edHeader())}.${b64json("{not json")}`;
  const signature = new Uint8Array(
    await crypto.subtle.sign("Ed25519", ed.privateKey, utf8(input)),
  );
  assert.throws(() => verify(`${input}.${base64url(signature)}`), invalid);
});

Deno.test("dpop: a payload that is JSON but not an object is refused", async () => {
  const input = `${jsonPart(edHeader())}.${b64json('["jti-1"]')}`;
  const signature = new Uint8Array(
    await crypto.subtle.sign("Ed25519", ed.privateKey, utf8(input)),
  );
  assert.throws(() => verify(`${input}.${base64url(signature)}`), invalid);
});

Deno.test("dpop: a header part that is not base64url is refused", async () => {
  const [header, payload, signature] = (await edProof()).split(".");
  assert.throws(() => verify(`${header}=.${payload}.${signature}`), invalid);
});

Deno.test("dpop: a signature part that is not base64url is refused", async () => {
  const [header, payload, signature] = (await edProof()).split(".");
  assert.throws(
    () => verify(`${header}.${payload}.${signature!.slice(0, -1)}+`),
    invalid,
  );
});

Deno.test("dpop: a proof longer than 8192 characters is refused; 8192 is accepted", async () => {
  // A valid proof padded to an exact length with a claim in the payload and
  // a member in the header (base64url lengths skip every 4k+1).
  async function proofOfLength(length: number): Promise<string> {
    for (let h = 0; h < 3; h++) {
      for (let p = 0; p < 8192; p++) {
        const header = edHeader({ kid: "k".repeat(h + 1) });
        const payload = claims({ pad: "p".repeat(p) });
        if (signingInput(header, payload).length + 87 === length) {
          return await edProof(header, payload);
        }
      }
    }
    throw new Error(`no proof of length ${length}`);
  }
  const longest = await proofOfLength(8192);
  assert.equal(longest.length, 8192);
  verify(longest);
  const tooLong = await proofOfLength(8193);
  assert.equal(tooLong.length, 8193);
  assert.throws(() => verify(tooLong), invalid);
});

// --- §4.3 step 4: typ ----------------------------------------------------

Deno.test("dpop: a proof without typ is refused", async () => {
  const proof = await edProof(edHeader({ typ: undefined }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: typ is compared as RFC 7515 §4.1.9 allows (application/ prefix, any case)", async () => {
  for (const typ of ["application/dpop+jwt", "DPoP+JWT"]) {
    const proof = await edProof(edHeader({ typ }));
    assert.equal(verify(proof).jti, "jti-1");
  }
});

Deno.test("dpop: a proof typed JWT is refused", async () => {
  const proof = await edProof(edHeader({ typ: "JWT" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a proof typed at+jwt is refused", async () => {
  const proof = await edProof(edHeader({ typ: "at+jwt" }));
  assert.throws(() => verify(proof), invalid);
});

// --- §4.3 step 5: alg ----------------------------------------------------

Deno.test("dpop: alg none (no signature) is refused", () => {
  const proof = `${signingInput(edHeader({ alg: "none" }), claims())}.`;
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: alg none with a valid Ed25519 signature is refused", async () => {
  const proof = await edProof(edHeader({ alg: "none" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: alg HS256 is refused", () => {
  const input = signingInput(edHeader({ alg: "HS256" }), claims());
  // The symmetric key an attacker might hope a verifier uses: the jwk's x.
  const mac = createHmac("sha256", fromBase64url(ed.publicJwk.x))
    .update(input)
    .digest();
  assert.throws(() => verify(`${input}.${base64url(mac)}`), invalid);
});

Deno.test("dpop: alg RS256 is refused, even with a valid RSA signature", async () => {
  const rsa = await jose.generateKeyPair("RS256");
  const rsaJwk = await jose.exportJWK(rsa.publicKey);
  const proof = await signParts(
    { typ: "dpop+jwt", alg: "RS256", jwk: rsaJwk },
    claims(),
    rsa.privateKey,
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an alg that is not a string is refused", async () => {
  const proof = await edProof(edHeader({ alg: ["EdDSA"] }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: alg ES256 with an Ed25519 jwk is refused", async () => {
  const proof = await edProof(edHeader({ alg: "ES256" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: alg EdDSA with a P-256 jwk is refused", async () => {
  const proof = await esProof(esHeader({ alg: "EdDSA" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a crit header is refused", async () => {
  const proof = await edProof(edHeader({ crit: ["exp"] }));
  assert.throws(() => verify(proof), invalid);
});

// --- §4.3 steps 6-7: the jwk and the signature ---------------------------

Deno.test("dpop: a proof without jwk is refused", async () => {
  const proof = await edProof(edHeader({ jwk: undefined }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a jwk that is not an object is refused", async () => {
  for (const jwk of [ed.publicJwk.x, null, [ed.publicJwk]]) {
    const proof = await edProof(edHeader({ jwk }));
    assert.throws(() => verify(proof), invalid);
  }
});

Deno.test("dpop: an EC jwk holding its private key (d) is refused", async () => {
  assert.equal(typeof esPrivateJwk.d, "string");
  const proof = await esProof(esHeader({ jwk: esPrivateJwk }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an OKP jwk holding its private key (d) is refused", async () => {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const privateJwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  assert.equal(typeof privateJwk.d, "string");
  const proof = await signParts(
    edHeader({ jwk: privateJwk }),
    claims(),
    pair.privateKey,
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an EC jwk whose point is not on P-256 is refused", async () => {
  const proof = await esProof(esHeader({ jwk: { ...esJwk, y: esJwk.x } }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an EC jwk with a 31- or 33-byte coordinate is refused", async () => {
  const x = fromBase64url(esJwk.x!);
  const y = fromBase64url(esJwk.y!);
  for (
    const jwk of [
      { ...esJwk, x: base64url(x.slice(1)) },
      { ...esJwk, y: base64url(y.slice(1)) },
      { ...esJwk, x: base64url(Uint8Array.of(0, ...x)) },
      { ...esJwk, y: base64url(Uint8Array.of(0, ...y)) },
    ]
  ) {
    const proof = await esProof(esHeader({ jwk }));
    assert.throws(() => verify(proof), invalid);
  }
});

Deno.test("dpop: an EC jwk on another curve (P-384) is refused", async () => {
  const p384 = await jose.generateKeyPair("ES384");
  const proof = await esProof(
    esHeader({ jwk: await jose.exportJWK(p384.publicKey) }),
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an Ed25519 jwk with a 31-byte x is refused", async () => {
  const x = base64url(fromBase64url(ed.publicJwk.x).slice(1));
  const proof = await edProof(edHeader({ jwk: { ...ed.publicJwk, x } }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an Ed25519 jwk of small order (the identity) with a forged signature is refused", () => {
  // Under a cofactorless check, R = identity and S = 0 verify any message
  // for the identity key; parsePublicJwk refuses such keys before that.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const x = base64url(identity);
  const input = signingInput(
    edHeader({ jwk: { kty: "OKP", crv: "Ed25519", x } }),
    claims(),
  );
  const forged = Uint8Array.of(...identity, ...new Uint8Array(32));
  assert.throws(() => verify(`${input}.${base64url(forged)}`), invalid);
});

Deno.test("dpop: a non-canonical Ed25519 signature (S + L) is refused", async () => {
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const [header, payload, signature] = (await edProof()).split(".");
  const raw = fromBase64url(signature!);
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(raw[32 + i]!);
  s += L;
  const malleated = Uint8Array.from(raw);
  for (let i = 0; i < 32; i++) {
    malleated[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  }
  assert.throws(
    () => verify(`${header}.${payload}.${base64url(malleated)}`),
    invalid,
  );
});

Deno.test("dpop: an EdDSA proof signed by another key than its jwk is refused", async () => {
  const proof = await signParts(edHeader(), claims(), edStranger.privateKey);
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an ES256 proof signed by another key than its jwk is refused", async () => {
  const proof = await signParts(esHeader(), claims(), esStranger.privateKey);
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an EdDSA proof with a tampered payload is refused", async () => {
  const [header, , signature] = (await edProof()).split(".");
  const tampered = jsonPart(claims({ jti: "jti-2" }));
  assert.throws(() => verify(`${header}.${tampered}.${signature}`), invalid);
});

Deno.test("dpop: an ES256 proof with a tampered payload is refused", async () => {
  const [header, , signature] = (await esProof()).split(".");
  const tampered = jsonPart(claims({ jti: "jti-2" }));
  assert.throws(() => verify(`${header}.${tampered}.${signature}`), invalid);
});

Deno.test("dpop: an ES256 proof with a tampered header is refused", async () => {
  const [, payload, signature] = (await esProof()).split(".");
  const tampered = jsonPart(esHeader({ kid: "k1" }));
  assert.throws(() => verify(`${tampered}.${payload}.${signature}`), invalid);
});

Deno.test("dpop: an ES256 signature of 63 or 65 bytes is refused", async () => {
  const [header, payload, signature] = (await esProof()).split(".");
  const raw = fromBase64url(signature!);
  assert.equal(raw.length, 64);
  for (const wrong of [raw.slice(0, 63), Uint8Array.of(...raw, 0)]) {
    assert.throws(
      () => verify(`${header}.${payload}.${base64url(wrong)}`),
      invalid,
    );
  }
});

Deno.test("dpop: an ES256 signature in DER form is refused", () => {
  const input = signingInput(esHeader(), claims());
  const der = sign("sha256", utf8(input), {
    key: KeyObject.from(es.privateKey),
    dsaEncoding: "der",
  });
  assert.notEqual(der.length, 64);
  assert.throws(() => verify(`${input}.${base64url(der)}`), invalid);
});

Deno.test("dpop: an empty signature is refused", () => {
  const input = signingInput(edHeader(), claims());
  assert.throws(() => verify(`${input}.`), invalid);
  const esInput = signingInput(esHeader(), claims());
  assert.throws(() => verify(`${esInput}.`), invalid);
});

// --- §4.3 step 8: htm ----------------------------------------------------

Deno.test("dpop: htm naming another method is refused", async () => {
  const proof = await edProof();
  assert.throws(() => verify(proof, { method: "GET" }), invalid);
});

Deno.test("dpop: the request's method is compared in upper case (options.method post, htm POST)", async () => {
  const proof = await edProof();
  assert.equal(verify(proof, { method: "post" }).jti, "jti-1");
});

Deno.test("dpop: htm in lower case is refused (methods are case-sensitive)", async () => {
  const proof = await edProof(edHeader(), claims({ htm: "post" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a proof without htm is refused", async () => {
  const proof = await edProof(edHeader(), claims({ htm: undefined }));
  assert.throws(() => verify(proof), invalid);
});

// --- §4.3 step 9: htu ----------------------------------------------------

Deno.test("dpop: htu naming another path is refused", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ htu: "https://issuer.example/oauth/introspect" }),
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: htu naming another host is refused", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ htu: "https://other.example/oauth/token" }),
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: htu naming another scheme is refused", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ htu: "http://issuer.example/oauth/token" }),
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: htu naming another port is refused", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ htu: "https://issuer.example:8443/oauth/token" }),
  );
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: htu is compared without query and fragment, host case and default port", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ htu: "HTTPS://Example.COM:443/a?x#y" }),
  );
  assert.equal(verify(proof, { url: "https://example.com/a" }).jti, "jti-1");
  assert.equal(
    verify(proof, { url: "https://EXAMPLE.com/a?other=1" }).jti,
    "jti-1",
  );
});

Deno.test("dpop: the request URL's query is left out of the comparison", async () => {
  const proof = await edProof();
  assert.equal(verify(proof, { url: `${URL_}?a=1#f` }).jti, "jti-1");
});

Deno.test("dpop: a non-http(s) htu is refused, even when the request URL is the same", async () => {
  for (const htu of ["ftp://issuer.example/a", "wss://issuer.example/a"]) {
    const proof = await edProof(edHeader(), claims({ htu }));
    assert.throws(() => verify(proof, { url: htu }), invalid);
  }
});

Deno.test("dpop: an htu that is not a URL is refused", async () => {
  const proof = await edProof(edHeader(), claims({ htu: "/oauth/token" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a proof without htu is refused", async () => {
  const proof = await edProof(edHeader(), claims({ htu: undefined }));
  assert.throws(() => verify(proof), invalid);
});

// --- §4.3 step 11: iat ---------------------------------------------------

Deno.test("dpop: a proof without iat is refused", async () => {
  const proof = await edProof(edHeader(), claims({ iat: undefined }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a non-integer iat is refused", async () => {
  for (const iat of [NOW_S + 0.5, String(NOW_S), null]) {
    const proof = await edProof(edHeader(), claims({ iat }));
    assert.throws(() => verify(proof), invalid);
  }
});

Deno.test("dpop: a proof exactly 60 s old is accepted, 61 s old refused", async () => {
  const proof = await edProof();
  assert.equal(verify(proof, { now: at(60) }).jti, "jti-1");
  assert.throws(() => verify(proof, { now: at(61) }), invalid);
});

Deno.test("dpop: a proof 30 s in the future is accepted, 31 s refused", async () => {
  const proof = await edProof();
  const verified = verify(proof, { now: at(-30) });
  assert.equal(verified.replayableUntil, NOW_S + DPOP_MAX_AGE_SECONDS);
  assert.throws(() => verify(proof, { now: at(-31) }), invalid);
});

// --- §4.2 / §4.3 step 3: jti ---------------------------------------------

Deno.test("dpop: a proof without jti is refused", async () => {
  const proof = await edProof(edHeader(), claims({ jti: undefined }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: an empty jti is refused", async () => {
  const proof = await edProof(edHeader(), claims({ jti: "" }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a jti that is not a string is refused", async () => {
  const proof = await edProof(edHeader(), claims({ jti: 12345 }));
  assert.throws(() => verify(proof), invalid);
});

Deno.test("dpop: a jti of 257 characters is refused, 256 accepted", async () => {
  const longest = await edProof(edHeader(), claims({ jti: "j".repeat(256) }));
  assert.equal(verify(longest).jti, "j".repeat(256));
  const tooLong = await edProof(edHeader(), claims({ jti: "j".repeat(257) }));
  assert.throws(() => verify(tooLong), invalid);
});

// --- §4.3 step 12: ath ---------------------------------------------------

Deno.test("dpop: with an access token, a proof without ath is refused", async () => {
  const proof = await edProof();
  assert.throws(() => verify(proof, { accessToken: "token-1" }), invalid);
});

Deno.test("dpop: with an access token, the ath of another token is refused", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ ath: accessTokenHash("token-2") }),
  );
  assert.throws(() => verify(proof, { accessToken: "token-1" }), invalid);
});

Deno.test("dpop: with an access token, the ath of that token is accepted", async () => {
  const proof = await edProof(
    edHeader(),
    claims({ ath: accessTokenHash("token-1") }),
  );
  assert.equal(verify(proof, { accessToken: "token-1" }).jti, "jti-1");
});

// --- targetUri and accessTokenHash ---------------------------------------

Deno.test("dpop: targetUri keeps scheme, host, port and path of an http(s) URL", () => {
  assert.equal(targetUri("https://example.com/a"), "https://example.com/a");
  assert.equal(
    targetUri("HTTPS://Example.COM:443/a?x#y"),
    "https://example.com/a",
  );
  assert.equal(targetUri("http://example.com:80/a"), "http://example.com/a");
  assert.equal(
    targetUri("https://example.com:8443/a"),
    "https://example.com:8443/a",
  );
  assert.equal(targetUri("https://example.com"), "https://example.com/");
  assert.equal(
    targetUri("https://example.com/a/../b"),
    "https://example.com/b",
  );
});

Deno.test("dpop: targetUri is undefined for a non-http(s) URL, a relative one, or userinfo", () => {
  assert.equal(targetUri("ftp://example.com/a"), undefined);
  assert.equal(targetUri("wss://example.com/a"), undefined);
  assert.equal(targetUri("urn:example:a"), undefined);
  assert.equal(targetUri("/a"), undefined);
  assert.equal(targetUri(""), undefined);
  assert.equal(targetUri("https://user:pass@example.com/a"), undefined);
});

Deno.test("dpop: accessTokenHash is the base64url SHA-256 of the token", () => {
  const token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl";
  assert.equal(
    accessTokenHash(token),
    createHash("sha256").update(token, "ascii").digest("base64url"),
  );
});

Deno.test("dpop: accessTokenHash matches the RFC 9449 §7.1 example", () => {
  assert.equal(
    accessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
    "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo",
  );
});
