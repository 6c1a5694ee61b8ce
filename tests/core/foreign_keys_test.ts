/**
 * Keys of others (foreign_keys.ts): a platform's RS256, ES256 and EdDSA keys
 * verify their own signatures and nothing else, their thumbprints are RFC
 * 7638's (as jose computes them), and a JWK that is private, meant for
 * another use or algorithm, too weak or malformed is refused. The odd keys
 * are jose-exported JWKs edited in one member.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, KeyObject, sign } from "node:crypto";
import * as jose from "jose";
import { base64url, fromBase64url, utf8 } from "../../src/core/encoding.ts";
import { type ForeignAlg, foreignKey } from "../../src/core/foreign_keys.ts";

type Json = Record<string, unknown>;

const rsa = await jose.generateKeyPair("RS256", {
  extractable: true,
  modulusLength: 2048,
});
const es = await jose.generateKeyPair("ES256", { extractable: true });
const ed = await jose.generateKeyPair("EdDSA", { extractable: true });

const rsaJwk = await jose.exportJWK(rsa.publicKey);
const esJwk = await jose.exportJWK(es.publicKey);
const edJwk = await jose.exportJWK(ed.publicKey);

const DATA = utf8("header.payload");
const OTHER_DATA = utf8("header.payloaD");

/** What WebCrypto signs with for each algorithm (ES256: 64-byte r||s). */
const WEBCRYPTO: Record<"RS256" | "ES256" | "EdDSA", AlgorithmIdentifier> = {
  RS256: "RSASSA-PKCS1-v1_5",
  ES256: { name: "ECDSA", hash: "SHA-256" } as AlgorithmIdentifier,
  EdDSA: "Ed25519",
};

async function signed(
  alg: "RS256" | "ES256" | "EdDSA",
  privateKey: CryptoKey,
  data: Uint8Array<ArrayBuffer> = DATA,
): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.sign(WEBCRYPTO[alg], privateKey, data),
  );
}

/** `jwk` with `changes` (an undefined value drops the member). */
function edited(jwk: jose.JWK, changes: Json): Json {
  const copy: Json = { ...jwk, ...changes };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete copy[name];
  }
  return copy;
}

/** The base64url member `value` with its bytes changed by `change`. */
function bytesEdited(
  value: string | undefined,
  change: (bytes: Uint8Array) => Uint8Array,
): string {
  return base64url(change(fromBase64url(value!)));
}

function refused(jwk: unknown, alg: ForeignAlg, why: string): void {
  assert.throws(() => foreignKey(jwk, alg), Error, why);
}

// --- verification -------------------------------------------------------------

Deno.test("foreign keys: an RS256 key (2048-bit RSA) verifies its own signatures only", async () => {
  const key = foreignKey({ ...rsaJwk, kid: "k1", alg: "RS256" }, "RS256");
  const signature = await signed("RS256", rsa.privateKey);
  assert.equal(signature.length, 256);
  assert.equal(key.verify(DATA, signature), true);
  assert.equal(key.verify(OTHER_DATA, signature), false, "other data");
  const flipped = Uint8Array.from(signature);
  flipped[100]! ^= 1;
  assert.equal(key.verify(DATA, flipped), false, "a changed signature");
  const stranger = await jose.generateKeyPair("RS256");
  assert.equal(
    key.verify(DATA, await signed("RS256", stranger.privateKey)),
    false,
    "another key's signature",
  );
});

Deno.test("foreign keys: an RS256 signature of the wrong length does not verify", async () => {
  const key = foreignKey(rsaJwk, "RS256");
  const signature = await signed("RS256", rsa.privateKey);
  const longer = new Uint8Array(signature.length + 1);
  longer.set(signature, 1); // the same integer, one leading zero byte more
  assert.equal(key.verify(DATA, longer), false, "257 bytes");
  assert.equal(key.verify(DATA, signature.subarray(1)), false, "255 bytes");
  assert.equal(key.verify(DATA, new Uint8Array(0)), false, "empty");
});

Deno.test("foreign keys: an ES256 key verifies its own r||s signatures only", async () => {
  const key = foreignKey({ ...esJwk, alg: "ES256", use: "sig" }, "ES256");
  const signature = await signed("ES256", es.privateKey);
  assert.equal(signature.length, 64);
  assert.equal(key.verify(DATA, signature), true);
  assert.equal(key.verify(OTHER_DATA, signature), false, "other data");
  const flipped = Uint8Array.from(signature);
  flipped[40]! ^= 1;
  assert.equal(key.verify(DATA, flipped), false, "a changed signature");
  assert.equal(key.verify(DATA, signature.subarray(0, 63)), false, "63 bytes");
  // The same signature DER-encoded (what node:crypto signs by default) is
  // not a JWS signature (RFC 7518 §3.4).
  const der = sign("sha256", DATA, KeyObject.from(es.privateKey));
  assert.equal(key.verify(DATA, der), false, "DER");
});

Deno.test("foreign keys: an EdDSA key verifies its own signatures only, as EdDSA or Ed25519", async () => {
  const signature = await signed("EdDSA", ed.privateKey);
  for (const alg of ["EdDSA", "Ed25519"] as const) {
    for (const declared of [undefined, "EdDSA", "Ed25519"]) {
      const key = foreignKey(edited(edJwk, { alg: declared }), alg);
      assert.equal(key.verify(DATA, signature), true, `${alg} ${declared}`);
      assert.equal(key.verify(OTHER_DATA, signature), false);
    }
  }
  const key = foreignKey(edJwk, "EdDSA");
  const flipped = Uint8Array.from(signature);
  flipped[10]! ^= 1;
  assert.equal(key.verify(DATA, flipped), false, "a changed signature");
  assert.equal(key.verify(DATA, signature.subarray(0, 63)), false, "63 bytes");
});

Deno.test("foreign keys: thumbprints are RFC 7638's, as jose computes them, whatever other members the JWK has", async () => {
  const cases: [jose.JWK, ForeignAlg][] = [
    [rsaJwk, "RS256"],
    [esJwk, "ES256"],
    [edJwk, "EdDSA"],
  ];
  for (const [jwk, alg] of cases) {
    const expected = await jose.calculateJwkThumbprint(jwk);
    assert.equal(foreignKey(jwk, alg).thumbprint, expected, alg);
    assert.equal(
      foreignKey({ ...jwk, kid: "k1", use: "sig", alg }, alg).thumbprint,
      expected,
      `${alg} with kid, use, alg`,
    );
  }
  assert.equal(
    foreignKey(edJwk, "Ed25519").thumbprint,
    foreignKey(edJwk, "EdDSA").thumbprint,
  );
});

// --- refusals -----------------------------------------------------------------

Deno.test("foreign keys: a JWK that is not an object is refused", () => {
  for (const value of [undefined, null, "key", 42, [rsaJwk]]) {
    refused(value, "RS256", String(value));
  }
});

Deno.test("foreign keys: a JWK with private members is refused", async () => {
  const privates: [jose.JWK, ForeignAlg][] = [
    [await jose.exportJWK(rsa.privateKey), "RS256"],
    [await jose.exportJWK(es.privateKey), "ES256"],
    [await jose.exportJWK(ed.privateKey), "EdDSA"],
  ];
  for (const [jwk, alg] of privates) refused(jwk, alg, `${alg} private JWK`);
  for (const member of ["d", "p", "q", "dp", "dq", "qi"]) {
    refused({ ...rsaJwk, [member]: "AQAB" }, "RS256", `RSA with ${member}`);
  }
  refused({ ...esJwk, d: "AQAB" }, "ES256", "EC with d");
  refused({ ...edJwk, d: "AQAB" }, "EdDSA", "OKP with d");
  refused({ ...rsaJwk, k: "AQAB" }, "RS256", "with k");
  refused({ ...edJwk, k: "AQAB" }, "EdDSA", "OKP with k");
});

Deno.test("foreign keys: a JWK whose use is not sig is refused", () => {
  const cases: [jose.JWK, ForeignAlg][] = [
    [rsaJwk, "RS256"],
    [esJwk, "ES256"],
    [edJwk, "EdDSA"],
  ];
  for (const [jwk, alg] of cases) {
    refused({ ...jwk, use: "enc" }, alg, `${alg} use enc`);
    refused({ ...jwk, use: "SIG" }, alg, `${alg} use SIG`);
    assert.ok(foreignKey({ ...jwk, use: "sig" }, alg), `${alg} use sig`);
  }
});

Deno.test("foreign keys: a JWK whose alg member names another algorithm is refused", () => {
  for (const declared of ["PS256", "RS384", "RS512", "ES256", "rs256", ""]) {
    refused({ ...rsaJwk, alg: declared }, "RS256", `RSA declared ${declared}`);
  }
  for (const declared of ["ES384", "ES256K", "RS256", "EdDSA"]) {
    refused({ ...esJwk, alg: declared }, "ES256", `EC declared ${declared}`);
  }
  for (const declared of ["ES256", "RS256", "eddsa"]) {
    refused({ ...edJwk, alg: declared }, "EdDSA", `OKP declared ${declared}`);
  }
});

Deno.test("foreign keys: a key of another type than the algorithm's is refused", () => {
  refused(esJwk, "RS256", "EC key for RS256");
  refused(edJwk, "RS256", "OKP key for RS256");
  refused(rsaJwk, "ES256", "RSA key for ES256");
  refused(edJwk, "ES256", "OKP key for ES256");
  refused(rsaJwk, "EdDSA", "RSA key for EdDSA");
  refused(esJwk, "Ed25519", "EC key for Ed25519");
  refused({ ...esJwk, crv: "P-384" }, "ES256", "P-384 for ES256");
  refused({ ...edJwk, crv: "X25519" }, "EdDSA", "X25519 for EdDSA");
  refused({ ...rsaJwk, kty: "EC" }, "RS256", "RSA members, kty EC");
});

Deno.test("foreign keys: an RSA key of fewer than 2048 or more than 4096 bits is refused", () => {
  const small = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const smallJwk = small.publicKey.export({ format: "jwk" });
  assert.equal(fromBase64url(smallJwk.n!).length, 128);
  refused(smallJwk, "RS256", "1024 bits");
  // The bit length is n's, not its byte length's: 256 bytes, top bit clear.
  refused(
    { ...rsaJwk, n: bytesEdited(rsaJwk.n, (n) => ((n[0] = 0x7f), n)) },
    "RS256",
    "2047 bits",
  );
  const huge = new Uint8Array(1025).fill(0xff);
  refused({ ...rsaJwk, n: base64url(huge) }, "RS256", "8200 bits");
  // The largest node:crypto takes here (see the ignored test below).
  assert.ok(foreignKey({ ...rsaJwk, n: base64url(modulus(4096)) }, "RS256"));
});

/** A random odd modulus of exactly `bits` bits (a multiple of 8). */
function modulus(bits: number): Uint8Array {
  const n = crypto.getRandomValues(new Uint8Array(bits / 8));
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  return n;
}

// node:crypto (Deno's) refuses any modulus over 4096 bits: the bound says so
// plainly rather than fail later as "not a valid RSA public key".
Deno.test("foreign keys: RSA keys of 4097 bits and more are refused by the documented bound", () => {
  for (const bits of [4104, 6144, 8192]) {
    refused(
      { ...rsaJwk, n: base64url(modulus(bits)) },
      "RS256",
      `${bits} bits`,
    );
  }
});

Deno.test("foreign keys: an RSA modulus with a leading zero byte, or not base64url, is refused", () => {
  refused(
    {
      ...rsaJwk,
      n: bytesEdited(rsaJwk.n, (n) => Uint8Array.from([0, ...n])),
    },
    "RS256",
    "leading zero in n",
  );
  refused(
    { ...rsaJwk, e: bytesEdited(rsaJwk.e, (e) => Uint8Array.from([0, ...e])) },
    "RS256",
    "leading zero in e",
  );
  refused({ ...rsaJwk, n: "" }, "RS256", "empty n");
  refused({ ...rsaJwk, n: rsaJwk.n + "=" }, "RS256", "padded n");
  refused({ ...rsaJwk, n: rsaJwk.n!.replaceAll("-", "+") + "+" }, "RS256", "+");
  refused({ ...rsaJwk, n: undefined }, "RS256", "no n");
  refused({ ...rsaJwk, e: 65537 }, "RS256", "numeric e");
});

Deno.test("foreign keys: an RSA exponent that is even, 1, or longer than 32 bits is refused", () => {
  assert.equal(rsaJwk.e, "AQAB"); // 65537
  for (
    const [e, why] of [
      ["AQAA", "65536, even"],
      ["Ag", "2"],
      ["AQ", "1"],
      ["AQAAAAE", "2^32 + 1, 40 bits"],
    ]
  ) refused({ ...rsaJwk, e }, "RS256", `e = ${why}`);
  assert.ok(foreignKey({ ...rsaJwk, e: "Aw" }, "RS256"), "e = 3");
});

Deno.test("foreign keys: an EC point off the curve is refused", async () => {
  const offCurve = {
    ...esJwk,
    y: bytesEdited(esJwk.y, (y) => ((y[31]! ^= 1), y)),
  };
  refused(offCurve, "ES256", "y changed");
  refused({ ...esJwk, x: esJwk.y, y: esJwk.x }, "ES256", "x and y swapped");
  // Proof the key was otherwise well formed: another fresh key, unedited,
  // is taken.
  const fresh = await jose.generateKeyPair("ES256");
  assert.ok(foreignKey(await jose.exportJWK(fresh.publicKey), "ES256"));
});

Deno.test("foreign keys: EC coordinates not 32 bytes of base64url are refused", () => {
  const shorter = (value?: string) => bytesEdited(value, (b) => b.subarray(1));
  const longer = (value?: string) =>
    bytesEdited(value, (b) => Uint8Array.from([0, ...b]));
  refused({ ...esJwk, x: shorter(esJwk.x) }, "ES256", "x of 31 bytes");
  refused({ ...esJwk, y: shorter(esJwk.y) }, "ES256", "y of 31 bytes");
  refused({ ...esJwk, x: longer(esJwk.x) }, "ES256", "x of 33 bytes");
  refused({ ...esJwk, y: longer(esJwk.y) }, "ES256", "y of 33 bytes");
  refused({ ...esJwk, y: undefined }, "ES256", "no y");
  refused({ ...esJwk, x: 7 }, "ES256", "numeric x");
  refused({ ...esJwk, x: esJwk.x + "=" }, "ES256", "padded x");
});

Deno.test("foreign keys: an Ed25519 point of small order, or malformed, is refused", () => {
  const smallOrder = [
    new Uint8Array(32), // y = 0: order 4
    Uint8Array.from([1, ...new Uint8Array(31)]), // y = 1: the identity
    Uint8Array.from([0xec, ...new Uint8Array(30).fill(0xff), 0x7f]), // y = -1
  ];
  for (const point of smallOrder) {
    refused({ ...edJwk, x: base64url(point) }, "EdDSA", `x = ${point[0]}…`);
  }
  refused(
    { ...edJwk, x: bytesEdited(edJwk.x, (x) => x.subarray(1)) },
    "EdDSA",
    "31 bytes",
  );
  refused({ ...edJwk, x: undefined }, "EdDSA", "no x");
});
