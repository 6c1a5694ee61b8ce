/**
 * Ed25519 keys through WebCrypto: generation, PKCS#8 PEM files, public JWKs,
 * RFC 7638 thumbprints, and validation of public keys received from outside.
 * The only signature algorithm anywhere in auth4agent is Ed25519 (see jws.ts).
 */
import { base64url, fromBase64url, hex, sha256, utf8 } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";

export interface Ed25519PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid?: string;
  alg?: "EdDSA";
  use?: "sig";
}

export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: Ed25519PublicJwk;
}

const ED25519 = { name: "Ed25519" } as const;

export async function generateKeyPair(): Promise<KeyPair & { pem: string }> {
  const pair = await crypto.subtle.generateKey(ED25519, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", pair.privateKey),
  );
  return { ...(await importPrivateKeyPem(toPem(pkcs8))), pem: toPem(pkcs8) };
}

function toPem(pkcs8: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...pkcs8));
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${
    lines.join("\n")
  }\n-----END PRIVATE KEY-----\n`;
}

/**
 * Imports a PKCS#8 PEM Ed25519 private key (as written by us or by `openssl
 * genpkey -algorithm ed25519`); errors name it as `source` (e.g. its path).
 */
export async function importPrivateKeyPem(
  pem: string,
  source = "key file",
): Promise<KeyPair> {
  const match =
    /^-----BEGIN PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PRIVATE KEY-----\s*$/
      .exec(pem.trim() + "\n");
  if (!match) {
    fail("ERR_INVALID_KEY", `${source} is not a PKCS#8 PEM private key`);
  }
  let der: Uint8Array<ArrayBuffer>;
  try {
    der = Uint8Array.from(
      atob(match[1]!.replace(/\s+/g, "")),
      (c) => c.charCodeAt(0),
    );
  } catch {
    fail("ERR_INVALID_KEY", `${source} has invalid base64`);
  }
  let extractable: CryptoKey;
  try {
    extractable = await crypto.subtle.importKey("pkcs8", der, ED25519, true, [
      "sign",
    ]);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_INVALID_KEY",
      `${source} does not hold an Ed25519 private key`,
      { cause },
    );
  }
  const jwk = await crypto.subtle.exportKey("jwk", extractable);
  const publicJwk: Ed25519PublicJwk = { kty: "OKP", crv: "Ed25519", x: jwk.x! };
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    der,
    ED25519,
    false,
    ["sign"],
  );
  return { privateKey, publicKey: await importPublicJwk(publicJwk), publicJwk };
}

export async function importPublicJwk(
  jwk: Ed25519PublicJwk,
): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", x: jwk.x },
    ED25519,
    true,
    ["verify"],
  );
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key. */
export async function thumbprint(jwk: Ed25519PublicJwk): Promise<string> {
  // Members in lexicographic order, no whitespace (RFC 7638 §3.2, RFC 8037 §2).
  const canonical = `{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`;
  return base64url(await sha256(utf8(canonical)));
}

/** Short human fingerprint: `SHA256:` + hex of the thumbprint's first 16 bytes. */
export async function fingerprint(jwk: Ed25519PublicJwk): Promise<string> {
  return "SHA256:" + hex((await sha256(fromBase64url(jwk.x))).slice(0, 16));
}

// Encodings of the Ed25519 points of small order (1, 2, 4, 8), sign bit
// cleared; a public key equal to one of them lets anyone forge signatures
// that verify for every message under some verifiers (libsodium's blocklist).
const SMALL_ORDER = new Set([
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]);

/** The field prime 2^255 - 19, little-endian as Ed25519 encodes it. */
const P = (1n << 255n) - 19n;

function littleEndianToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return result;
}

const D = (-121665n * modPow(121666n, P - 2n, P)) % P + P;

/**
 * True when the encoding decompresses to a point of the curve
 * −x² + y² = 1 + d·x²·y² (RFC 8032 §5.1.3): x² = (y² − 1) / (d·y² + 1)
 * must be a square, and x = 0 must come with sign bit 0.
 */
function isOnCurve(y: bigint, signBit: number): boolean {
  const y2 = (y * y) % P;
  const u = (y2 - 1n + P) % P;
  const v = (D * y2 + 1n) % P;
  const x2 = (u * modPow(v, P - 2n, P)) % P;
  if (x2 === 0n) return signBit === 0;
  return modPow(x2, (P - 1n) / 2n, P) === 1n;
}

/**
 * Parses a public JWK from outside into a checked Ed25519 key: exactly
 * `kty`/`crv`/`x` (plus optional `kid`, `alg`, `use`), no private part, a
 * 32-byte canonical encoding of a curve point that is not of small order.
 */
export function parsePublicJwk(input: unknown): Ed25519PublicJwk {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    fail("ERR_INVALID_KEY", "public key must be a JWK object");
  }
  const jwk = input as Record<string, unknown>;
  if ("d" in jwk) {
    fail("ERR_INVALID_KEY", "a private key was sent; send the public key only");
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") {
    fail(
      "ERR_INVALID_KEY",
      "public key must be an Ed25519 OKP JWK (kty OKP, crv Ed25519)",
    );
  }
  if (jwk.alg !== undefined && jwk.alg !== "EdDSA" && jwk.alg !== "Ed25519") {
    fail(
      "ERR_INVALID_KEY",
      `public key alg ${JSON.stringify(jwk.alg)} is not EdDSA`,
    );
  }
  if (jwk.use !== undefined && jwk.use !== "sig") {
    fail("ERR_INVALID_KEY", "public key use must be sig");
  }
  if (typeof jwk.x !== "string") fail("ERR_INVALID_KEY", "public key has no x");
  let raw: Uint8Array;
  try {
    raw = fromBase64url(jwk.x);
  } catch {
    fail("ERR_INVALID_KEY", "public key x is not base64url");
  }
  if (raw.length !== 32) {
    fail("ERR_INVALID_KEY", "public key x must be 32 bytes");
  }
  const cleared = Uint8Array.from(raw);
  cleared[31]! &= 0x7f;
  if (littleEndianToBigInt(cleared) >= P) {
    fail("ERR_INVALID_KEY", "public key is not a canonical Ed25519 encoding");
  }
  if (SMALL_ORDER.has(hex(cleared))) {
    fail("ERR_INVALID_KEY", "public key is a point of small order");
  }
  if (!isOnCurve(littleEndianToBigInt(cleared), raw[31]! >> 7)) {
    fail("ERR_INVALID_KEY", "public key is not a point of Ed25519");
  }
  return { kty: "OKP", crv: "Ed25519", x: jwk.x };
}

export function rawPublicKey(jwk: Ed25519PublicJwk): Uint8Array<ArrayBuffer> {
  return fromBase64url(jwk.x);
}
