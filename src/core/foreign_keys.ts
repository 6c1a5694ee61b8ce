/**
 * Public keys of others, from their JWKs: a DPoP proof's key, a platform's
 * key that signs its workloads' tokens. Our own keys are Ed25519 only
 * (keys.ts); these may also be P-256 (ES256) or RSA (RS256, what Kubernetes
 * and most CI platforms sign with). Built with node:crypto, which refuses an
 * EC point off the curve — WebCrypto's import, measured here, takes it.
 */
import {
  createHash,
  createPublicKey,
  type KeyObject,
  verify,
} from "node:crypto";
import { verifyEd25519 } from "./ed25519.ts";
import { base64url, fromBase64url, type ReadableBytes } from "./encoding.ts";
import { parsePublicJwk } from "./keys.ts";

export type ForeignAlg = "EdDSA" | "Ed25519" | "ES256" | "RS256";

export interface ForeignKey {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url). */
  thumbprint: string;
  verify(data: ReadableBytes, signature: ReadableBytes): boolean;
}

/** RSA keys shorter than this are refused (NIST SP 800-131A). */
const MIN_RSA_BITS = 2048;
/** node:crypto (Deno's) takes no larger modulus; platforms sign with 2048 or 4096. */
const MAX_RSA_BITS = 4096;

/**
 * The public key of `jwk` for `alg`, or an Error saying why not: the key
 * type must be the algorithm's, with no private members, and well formed.
 */
export function foreignKey(jwk: unknown, alg: ForeignAlg): ForeignKey {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
    throw new Error("the key is not a JWK object");
  }
  const members = jwk as Record<string, unknown>;
  for (const secret of ["d", "p", "q", "dp", "dq", "qi", "k"]) {
    if (secret in members) throw new Error("the JWK holds a private key");
  }
  if (members.use !== undefined && members.use !== "sig") {
    throw new Error("the JWK's use is not sig");
  }
  if (members.alg !== undefined && !sameAlg(members.alg, alg)) {
    throw new Error(`the JWK is for ${String(members.alg)}, not ${alg}`);
  }
  switch (alg) {
    case "ES256":
      return p256Key(members);
    case "RS256":
      return rsaKey(members);
    default:
      return ed25519Key(members);
  }
}

function sameAlg(declared: unknown, alg: ForeignAlg): boolean {
  const eddsa = ["EdDSA", "Ed25519"];
  return declared === alg ||
    (eddsa.includes(declared as string) && eddsa.includes(alg));
}

function ed25519Key(jwk: Record<string, unknown>): ForeignKey {
  // parsePublicJwk checks the point (canonical, on the curve, not small order).
  const { x } = parsePublicJwk({ kty: jwk.kty, crv: jwk.crv, x: jwk.x });
  const publicKey = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x },
    format: "jwk",
  });
  return {
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2, RFC 8037 §2).
    thumbprint: sha256Base64url(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`),
    verify: (data, signature) => verifyEd25519(publicKey, data, signature),
  };
}

function p256Key(jwk: Record<string, unknown>): ForeignKey {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256") {
    throw new Error("an ES256 key is kty EC, crv P-256");
  }
  for (const coordinate of [jwk.x, jwk.y]) {
    if (
      typeof coordinate !== "string" ||
      !/^[A-Za-z0-9_-]{43}$/.test(coordinate) ||
      fromBase64url(coordinate).length !== 32
    ) throw new Error("x and y must be 32 bytes each, base64url");
  }
  const x = jwk.x as string, y = jwk.y as string;
  const publicKey = imported({ kty: "EC", crv: "P-256", x, y }, "P-256");
  return {
    thumbprint: sha256Base64url(
      `{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`,
    ),
    verify: (data, signature) =>
      signature.length === 64 &&
      verify(
        "sha256",
        data as Uint8Array,
        { key: publicKey, dsaEncoding: "ieee-p1363" },
        signature as Uint8Array,
      ),
  };
}

function rsaKey(jwk: Record<string, unknown>): ForeignKey {
  if (jwk.kty !== "RSA") throw new Error("an RS256 key is kty RSA");
  const n = unsignedBytes(jwk.n, "n");
  const e = unsignedBytes(jwk.e, "e");
  const bits = n.length * 8 - Math.clz32(n[0]!) + 24;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw new Error(
      `an RSA key must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, not ${bits}`,
    );
  }
  const even = (e[e.length - 1]! & 1) === 0;
  if (e.length > 4 || even || (e.length === 1 && e[0]! < 3)) {
    throw new Error(
      "the RSA exponent must be odd, at least 3, at most 32 bits",
    );
  }
  const publicKey = imported(
    { kty: "RSA", n: jwk.n as string, e: jwk.e as string },
    "RSA",
  );
  const length = n.length;
  return {
    thumbprint: sha256Base64url(
      `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`,
    ),
    verify: (data, signature) =>
      signature.length === length &&
      verify("sha256", data as Uint8Array, publicKey, signature as Uint8Array),
  };
}

/** A base64url big-endian unsigned integer without leading zero bytes (RFC 7518 §6.3.1). */
function unsignedBytes(value: unknown, name: string): Uint8Array {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]+$/.test(value)) {
    throw new Error(`the RSA key's ${name} is not base64url`);
  }
  const bytes = fromBase64url(value);
  if (bytes.length === 0 || bytes[0] === 0) {
    throw new Error(`the RSA key's ${name} has leading zeros or is empty`);
  }
  return bytes;
}

function imported(jwk: Record<string, string>, what: string): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    throw new Error(`the JWK is not a valid ${what} public key`);
  }
}

function sha256Base64url(text: string): string {
  return base64url(createHash("sha256").update(text).digest());
}
