import assert from "node:assert/strict";
import fc from "fast-check";
import {
  base64url,
  fromBase64url,
  hex,
  utf8,
} from "../../src/core/encoding.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  fingerprint,
  generateKeyPair,
  importPrivateKeyPem,
  importPublicJwk,
  parsePublicJwk,
  rawPublicKey,
  thumbprint,
} from "../../src/core/keys.ts";
import { code } from "./_helpers.ts";

// --- openssl interop -------------------------------------------------------

async function openssl(...args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("openssl", { args, stderr: "piped" })
    .output();
  assert.ok(
    out.success,
    `openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
  );
  return out.stdout;
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "auth4agent-keys-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The raw public key openssl derives from a private key file (SPKI DER ends with it). */
async function opensslPublicKey(file: string): Promise<string> {
  const der = await openssl("pkey", "-in", file, "-pubout", "-outform", "DER");
  return base64url(der.slice(-32));
}

Deno.test("generateKeyPair: the PEM imports back to the same key, and it signs", async () => {
  const pair = await generateKeyPair();
  assert.match(
    pair.pem,
    /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/,
  );
  const imported = await importPrivateKeyPem(pair.pem);
  assert.deepEqual(imported.publicJwk, pair.publicJwk);
  assert.equal(imported.privateKey.extractable, false);
  const message = utf8("hello");
  const signature = await crypto.subtle.sign(
    "Ed25519",
    imported.privateKey,
    message,
  );
  assert.ok(
    await crypto.subtle.verify("Ed25519", pair.publicKey, signature, message),
  );
  const viaJwk = await importPublicJwk(pair.publicJwk);
  assert.ok(await crypto.subtle.verify("Ed25519", viaJwk, signature, message));
  assert.equal(rawPublicKey(pair.publicJwk).length, 32);
});

Deno.test("generateKeyPair: openssl reads the PEM and finds the same public key", async () => {
  const pair = await generateKeyPair();
  await withTempDir(async (dir) => {
    const file = `${dir}/agent.pem`;
    await Deno.writeTextFile(file, pair.pem, { mode: 0o600 });
    await openssl("pkey", "-in", file, "-noout");
    assert.equal(await opensslPublicKey(file), pair.publicJwk.x);
  });
});

Deno.test("importPrivateKeyPem reads a key made by openssl genpkey", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/openssl.pem`;
    await openssl("genpkey", "-algorithm", "ed25519", "-out", file);
    const pair = await importPrivateKeyPem(await Deno.readTextFile(file));
    assert.equal(pair.publicJwk.x, await opensslPublicKey(file));
    // CRLF line ends, as a file edited on Windows has them.
    const crlf = (await Deno.readTextFile(file)).replaceAll("\n", "\r\n");
    assert.deepEqual(
      (await importPrivateKeyPem(crlf)).publicJwk,
      pair.publicJwk,
    );
  });
});

Deno.test("importPrivateKeyPem refuses what is not an Ed25519 PKCS#8 key", async () => {
  const x25519 = await withTempDir(async (dir) => {
    await openssl("genpkey", "-algorithm", "x25519", "-out", `${dir}/x.pem`);
    return await Deno.readTextFile(`${dir}/x.pem`);
  });
  const pair = await generateKeyPair();
  const body = pair.pem.split("\n").slice(1, -2).join("\n");
  for (
    const pem of [
      x25519,
      "",
      "not a key",
      pair.pem.replace(/PRIVATE KEY/g, "PUBLIC KEY"),
      `-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n`,
      `-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`,
      `-----BEGIN PRIVATE KEY-----\n${
        body.slice(4)
      }\n-----END PRIVATE KEY-----\n`,
    ]
  ) {
    await assert.rejects(
      importPrivateKeyPem(pem),
      code("ERR_INVALID_KEY"),
      pem,
    );
  }
});

// --- thumbprints -------------------------------------------------------------

Deno.test("thumbprint matches RFC 8037 Appendix A.3", async () => {
  const jwk = {
    kty: "OKP",
    crv: "Ed25519",
    x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  } as const;
  assert.equal(
    await thumbprint(jwk),
    "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
  );
  // Extra members (kid, alg, use) are not part of the thumbprint.
  assert.equal(
    await thumbprint({ ...jwk, kid: "k", alg: "EdDSA", use: "sig" }),
    "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
  );
  assert.match(await fingerprint(jwk), /^SHA256:[0-9a-f]{32}$/);
});

// --- parsePublicJwk ----------------------------------------------------------

const RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

/** A JWK whose x is these 32 bytes, given as hex (little-endian, as on the wire). */
function jwkFromHex(hexBytes: string) {
  const bytes = Uint8Array.from(hexBytes.match(/../g)!, (b) => parseInt(b, 16));
  return { kty: "OKP", crv: "Ed25519", x: base64url(bytes) };
}

Deno.test("parsePublicJwk keeps only kty, crv and x of a good key", () => {
  const jwk = { kty: "OKP", crv: "Ed25519", x: RFC8037_X };
  assert.deepEqual(parsePublicJwk(jwk), jwk);
  assert.deepEqual(
    parsePublicJwk({ ...jwk, kid: "k1", alg: "EdDSA", use: "sig", ext: true }),
    jwk,
  );
  assert.deepEqual(parsePublicJwk({ ...jwk, alg: "Ed25519" }), jwk);
});

Deno.test("parsePublicJwk refuses private keys, other key types and bad x", () => {
  const good = { kty: "OKP", crv: "Ed25519", x: RFC8037_X };
  const refused: unknown[] = [
    null,
    "key",
    [good],
    { ...good, d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" },
    { ...good, d: undefined },
    { ...good, kty: "EC" },
    { ...good, kty: "oct" },
    { ...good, crv: "Ed448" },
    { ...good, crv: "X25519" },
    { ...good, alg: "ES256" },
    { ...good, alg: "none" },
    { ...good, use: "enc" },
    { kty: "OKP", crv: "Ed25519" },
    { ...good, x: 42 },
    { ...good, x: "" },
    { ...good, x: RFC8037_X.slice(0, -1) }, // 31 bytes (non-canonical tail too)
    { ...good, x: base64url(new Uint8Array(31)) },
    { ...good, x: base64url(new Uint8Array(33).fill(7)) },
    { ...good, x: `${RFC8037_X}=` },
    { ...good, x: RFC8037_X.replaceAll("_", "/") },
    // y >= p: the field prime itself, p + 2, and 2^255 - 1; with and without the sign bit.
    jwkFromHex("ed" + "ff".repeat(30) + "7f"),
    jwkFromHex("ef" + "ff".repeat(30) + "7f"),
    jwkFromHex("ff".repeat(31) + "7f"),
    jwkFromHex("ff".repeat(32)),
  ];
  for (const input of refused) {
    assert.throws(
      () => parsePublicJwk(input),
      code("ERR_INVALID_KEY"),
      JSON.stringify(input),
    );
  }
});

Deno.test("parsePublicJwk: property, anything is a key or ERR_INVALID_KEY", () => {
  const x = fc.oneof(
    fc.uint8Array({ minLength: 30, maxLength: 34 }).map(base64url),
    fc.string(),
  );
  fc.assert(
    fc.property(x, fc.constantFrom("OKP", "EC"), (xValue, kty) => {
      try {
        parsePublicJwk({ kty, crv: "Ed25519", x: xValue });
      } catch (error) {
        assert.ok(error instanceof Auth4AgentError);
        assert.equal(error.code, "ERR_INVALID_KEY");
      }
    }),
  );
});

// --- small-order points, proved with our own Ed25519 arithmetic ---------------
//
// Curve: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p), p = 2^255 - 19,
// d = -121665/121666. The group has order 8·L; its points of small order are
// exactly the 8-torsion subgroup {L·Q : Q on the curve}.

const p = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const mod = (a: bigint) => ((a % p) + p) % p;

function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % p;
    b = (b * b) % p;
  }
  return result;
}

const inv = (a: bigint) => pow(a, p - 2n);
const d = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (p - 1n) / 4n);

/** Extended coordinates (X:Y:Z:T): x = X/Z, y = Y/Z, x·y = T/Z. */
type Point = [bigint, bigint, bigint, bigint];
const IDENTITY: Point = [0n, 1n, 1n, 0n];

/** The complete addition law of RFC 8032 §5.1.4 (also doubles). */
function add([X1, Y1, Z1, T1]: Point, [X2, Y2, Z2, T2]: Point): Point {
  const A = mod((Y1 - X1) * (Y2 - X2));
  const B = mod((Y1 + X1) * (Y2 + X2));
  const C = mod(2n * T1 * T2 * d);
  const D = mod(2n * Z1 * Z2);
  const [E, F, G, H] = [B - A, D - C, D + C, B + A];
  return [mod(E * F), mod(G * H), mod(F * G), mod(E * H)];
}

function multiply(n: bigint, point: Point): Point {
  let result = IDENTITY;
  let addend = point;
  for (let k = n; k > 0n; k >>= 1n) {
    if (k & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function equal([X1, Y1, Z1]: Point, [X2, Y2, Z2]: Point): boolean {
  return mod(X1 * Z2 - X2 * Z1) === 0n && mod(Y1 * Z2 - Y2 * Z1) === 0n;
}

function fromLittleEndianHex(h: string): bigint {
  return BigInt("0x" + h.match(/../g)!.reverse().join(""));
}

function toLittleEndianHex(n: bigint): string {
  return n.toString(16).padStart(64, "0").match(/../g)!.reverse().join("");
}

/** Strict RFC 8032 §5.1.3 decoding; undefined where no point is encoded. */
function decode(h: string): Point | undefined {
  const n = fromLittleEndianHex(h);
  const sign = n >> 255n;
  const y = n & ((1n << 255n) - 1n);
  if (y >= p) return undefined;
  const x2 = mod((y * y - 1n) * inv(d * y * y + 1n));
  let x = pow(x2, (p + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1);
  if (mod(x * x - x2) !== 0n) return undefined;
  if (x === 0n && sign === 1n) return undefined;
  if ((x & 1n) !== sign) x = p - x;
  return [x, y, 1n, mod(x * y)];
}

function encode([X, Y, Z]: Point): string {
  const zInv = inv(Z);
  const x = mod(X * zInv);
  const y = mod(Y * zInv);
  return toLittleEndianHex(y | ((x & 1n) << 255n));
}

const clearSign = (h: string) =>
  toLittleEndianHex(fromLittleEndianHex(h) & ((1n << 255n) - 1n));
const setSign = (h: string) =>
  toLittleEndianHex(fromLittleEndianHex(h) | (1n << 255n));

/** The blocklist as written in keys.ts, read from its source. */
async function blocklistInSource(): Promise<string[]> {
  const source = await Deno.readTextFile(
    new URL("../../src/core/keys.ts", import.meta.url),
  );
  const set = /const SMALL_ORDER = new Set\(\[([^\]]*)\]\)/.exec(source);
  assert.ok(set, "keys.ts declares SMALL_ORDER");
  return set[1]!.match(/[0-9a-f]{64}/g) ?? [];
}

/** The 8-torsion subgroup: L·Q for a point Q with a torsion part of order 8, and its multiples. */
function torsionSubgroup(): Point[] {
  for (let y = 2n; y < 200n; y++) {
    const q = decode(toLittleEndianHex(y));
    if (!q) continue;
    const t = multiply(L, q);
    if (equal(multiply(4n, t), IDENTITY)) continue; // order < 8
    return Array.from({ length: 8 }, (_, k) => multiply(BigInt(k), t));
  }
  throw new Error("no point with a torsion part of order 8 found");
}

Deno.test("ed25519 arithmetic in this test: base point has order L", () => {
  const B = decode("58" + "66".repeat(31))!;
  assert.equal(encode(B), "58" + "66".repeat(31));
  assert.ok(!equal(B, IDENTITY));
  assert.ok(equal(multiply(L, B), IDENTITY));
  assert.ok(equal(add(B, B), multiply(2n, B)));
});

Deno.test("small-order blocklist: every entry decodes to a point P with 8·P = identity", async () => {
  const blocklist = await blocklistInSource();
  assert.equal(blocklist.length, 5);
  for (const entry of blocklist) {
    const point = decode(entry);
    assert.ok(point, `${entry} decodes`);
    assert.ok(
      equal(multiply(8n, point), IDENTITY),
      `8·${entry} is the identity`,
    );
  }
});

Deno.test("small-order blocklist: it covers the whole 8-torsion subgroup, nothing else", async () => {
  const torsion = torsionSubgroup();
  const encodings = new Set(torsion.map(encode));
  assert.equal(encodings.size, 8);
  const cleared = new Set([...encodings].map(clearSign));
  assert.deepEqual(cleared, new Set(await blocklistInSource()));
});

Deno.test("parsePublicJwk refuses every encoding of every point of small order", () => {
  let refused = 0;
  for (const point of torsionSubgroup()) {
    const y = fromLittleEndianHex(clearSign(encode(point)));
    const variants = [toLittleEndianHex(y)];
    if (y + p < 1n << 255n) variants.push(toLittleEndianHex(y + p)); // non-canonical y
    for (const h of [...variants, ...variants.map(setSign)]) {
      assert.throws(
        () => parsePublicJwk(jwkFromHex(h)),
        code("ERR_INVALID_KEY"),
        h,
      );
      refused++;
    }
  }
  assert.ok(refused >= 16);
  // x = 0 with the sign bit set encodes no point at all (RFC 8032); refused anyway.
  assert.equal(decode(setSign("01" + "00".repeat(31))), undefined);
  assert.equal(decode(setSign("ec" + "ff".repeat(30) + "7f")), undefined);
});

Deno.test("a freshly generated public key is in the prime-order subgroup", async () => {
  const { publicJwk } = await generateKeyPair();
  assert.deepEqual(parsePublicJwk(publicJwk), publicJwk);
  const point = decode(hex(fromBase64url(publicJwk.x)));
  assert.ok(point);
  assert.ok(!equal(multiply(8n, point), IDENTITY), "not of small order");
  assert.ok(equal(multiply(L, point), IDENTITY), "order L");
});

Deno.test("parsePublicJwk accepts exactly the encodings that decode to a curve point", () => {
  // The test's own RFC 8032 decoder is the reference; small-order points aside.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
      const h = hex(bytes);
      const point = decode(h);
      const x = base64url(bytes);
      let accepted = true;
      try {
        parsePublicJwk({ kty: "OKP", crv: "Ed25519", x });
      } catch (error) {
        assert.ok(
          error instanceof Auth4AgentError && error.code === "ERR_INVALID_KEY",
        );
        accepted = false;
      }
      if (point && !equal(multiply(8n, point), IDENTITY)) {
        assert.ok(accepted, `a curve point was refused: ${h}`);
      }
      if (!point) assert.ok(!accepted, `not a curve point, yet accepted: ${h}`);
    }),
    { numRuns: 300 },
  );
  // y = 2 is not on the curve (x² is not a square).
  assert.throws(
    () =>
      parsePublicJwk({
        kty: "OKP",
        crv: "Ed25519",
        x: base64url(Uint8Array.of(2, ...new Uint8Array(31))),
      }),
    code("ERR_INVALID_KEY"),
  );
});
