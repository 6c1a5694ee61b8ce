/**
 * Crypto choices pinned in one place: the algorithms we accept and emit, the
 * clock leeway, size limits, and the structural checks every compact JWS from
 * outside passes before any signature work.
 */
import { signEd25519, verifyEd25519, type VerifyKey } from "./ed25519.ts";
import {
  base64url,
  fromBase64url,
  fromBase64urlScratch,
  fromUtf8,
  type ReadableBytes,
  utf8Scratch,
} from "./encoding.ts";
import { type ErrorCode, fail } from "./errors.ts";

/** We sign with `EdDSA`; we accept `EdDSA` and its RFC 9864 name `Ed25519`. */
export const SIGNING_ALG = "EdDSA";
export const ACCEPTED_ALGS = ["EdDSA", "Ed25519"] as const;
/** Clock leeway, in seconds, for `exp`, `nbf` and `iat` checks. */
export const CLOCK_LEEWAY_SECONDS = 30;
/**
 * How long a verifier may keep the issuer's key set: the JWKS's
 * `Cache-Control: max-age`, and the age past which TokenVerifier refetches.
 */
export const JWKS_MAX_AGE_SECONDS = 300;
/** Any JWS longer than this is refused unread. */
export const MAX_JWS_LENGTH = 8192;

/** Header parameters that would let a token pick its own verification key. */
const FORBIDDEN_HEADERS = ["jku", "x5u", "x5c", "x5t", "x5t#S256"] as const;

/** Order of the Ed25519 base point: signatures with S >= L are malleable. */
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
/** L as 32 little-endian bytes, as S is encoded (a byte compare: 3 ns, BigInt: 450). */
const L_BYTES = Uint8Array.from(
  { length: 32 },
  (_, i) => Number((L >> BigInt(8 * i)) & 0xffn),
);

/** Whether the little-endian S (the signature's second half) is at least L. */
function sAtLeastL(signature: ReadableBytes): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!, l = L_BYTES[i]!;
    if (s !== l) return s > l;
  }
  return true;
}

export interface JwsParts {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** ASCII bytes of `header.payload`, what the signature covers (scratch: check, keep nothing). */
  signingInput: ReadableBytes;
  /** Scratch bytes too (src/core/encoding.ts). */
  signature: ReadableBytes;
}

/**
 * The `iss` a JWT names, unverified and unchecked beyond its shape: which
 * issuer to ask or route to, never a reason to trust it. Undefined when none
 * can be read.
 */
export function unverifiedIssuer(token: unknown): string | undefined {
  try {
    const { payload } = splitCompactJws(
      token,
      "ERR_TOKEN_INVALID",
      "JWT",
      MAX_JWS_LENGTH,
    );
    return typeof payload.iss === "string" ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a compact JWS without verifying it, refusing everything we never
 * accept: other serializations, oversize input, `alg` outside ACCEPTED_ALGS,
 * keys or key URLs in the header (`jwk` too unless allowed), `crit`, `b64`,
 * and non-canonical Ed25519 signatures.
 */
export function inspectJws(
  token: unknown,
  code: ErrorCode,
  options: { allowJwk?: boolean; maxLength?: number } = {},
): JwsParts {
  const { header, payload, headerPart, payloadPart, signaturePart } =
    splitCompactJws(token, code, "JWT", options.maxLength ?? MAX_JWS_LENGTH);
  if (!ACCEPTED_ALGS.includes(header.alg as typeof ACCEPTED_ALGS[number])) {
    fail(
      code,
      `JWT alg ${JSON.stringify(header.alg)} is not accepted (EdDSA only)`,
    );
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) fail(code, `JWT header ${name} is not accepted`);
  }
  if ("jwk" in header && !options.allowJwk) {
    fail(code, "JWT header jwk is not accepted");
  }
  if ("crit" in header) fail(code, "JWT header crit is not accepted");
  if ("b64" in header) fail(code, "JWT header b64 is not accepted");
  let signature: ReadableBytes;
  try {
    signature = fromBase64urlScratch(signaturePart);
  } catch {
    fail(code, "JWT signature is not base64url");
  }
  if (signature.length !== 64) fail(code, "JWT signature is not 64 bytes");
  if (sAtLeastL(signature)) fail(code, "JWT signature is not canonical");
  return {
    header,
    payload,
    signingInput: utf8Scratch(`${headerPart}.${payloadPart}`),
    signature,
  };
}

/** A compact JWS signed by someone else's algorithm, parsed, not verified. */
export interface ForeignJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `header.payload`, what the signature covers. */
  signingInput: string;
  signature: Uint8Array;
}

/**
 * Parses a compact JWS whose `alg` may be other than ours (a DPoP proof, a
 * platform's workload token): at most MAX_JWS_LENGTH characters, three
 * parts, a JSON object header and payload, a base64url signature. The
 * caller checks `alg`, the headers and the key; `what` names it in errors.
 */
export function parseForeignJws(
  token: unknown,
  code: ErrorCode,
  what: string,
  maxLength = MAX_JWS_LENGTH,
): ForeignJws {
  const { header, payload, headerPart, payloadPart, signaturePart } =
    splitCompactJws(token, code, what, maxLength);
  let signature: Uint8Array;
  try {
    signature = fromBase64url(signaturePart);
  } catch {
    fail(code, `${what} signature is not base64url`);
  }
  return {
    header,
    payload,
    signingInput: `${headerPart}.${payloadPart}`,
    signature,
  };
}

/** A compact JWS's three parts, its header and payload decoded (JSON objects). */
function splitCompactJws(
  token: unknown,
  code: ErrorCode,
  what: string,
  maxLength: number,
) {
  if (typeof token !== "string" || token.length === 0) {
    fail(code, `${what} is missing`);
  }
  if (token.length > maxLength) {
    fail(code, `${what} is longer than ${maxLength} characters`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    fail(code, `${what} must be a compact JWS (three base64url parts)`);
  }
  const [headerPart, payloadPart, signaturePart] = parts as [
    string,
    string,
    string,
  ];
  return {
    header: decodeJsonPart(headerPart, code, "header"),
    payload: decodeJsonPart(payloadPart, code, "payload"),
    headerPart,
    payloadPart,
    signaturePart,
  };
}

/** One base64url JSON object part of a compact JWS (its header or payload). */
export function decodeJsonPart(
  part: string,
  code: ErrorCode,
  what: string,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(fromBase64urlScratch(part)));
  } catch {
    fail(code, `JWT ${what} is not base64url JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(code, `JWT ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function nowSeconds(now: Date): number {
  return Math.floor(now.getTime() / 1000);
}

/** Signs a compact JWS (EdDSA) over the JSON header and payload. */
export function signCompactJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  privateKey: CryptoKey,
): string {
  const input = `${
    base64url(utf8Scratch(JSON.stringify({ alg: SIGNING_ALG, ...header })))
  }.${base64url(utf8Scratch(JSON.stringify(payload)))}`;
  return `${input}.${base64url(signEd25519(privateKey, utf8Scratch(input)))}`;
}

/** Checks the signature of a JWS that inspectJws already parsed. */
export function verifyJwsSignature(
  parts: JwsParts,
  publicKey: VerifyKey,
  code: ErrorCode,
  what: string,
): void {
  if (!verifyEd25519(publicKey, parts.signingInput, parts.signature)) {
    fail(code, `${what} signature does not verify`);
  }
}

/** `typ` compared as RFC 7515 §4.1.9 allows: case-insensitive, `application/` optional. */
export function hasTyp(header: Record<string, unknown>, typ: string): boolean {
  if (typeof header.typ !== "string") return false;
  return header.typ.toLowerCase().replace(/^application\//, "") ===
    typ.toLowerCase();
}

/**
 * The time claims, each optional unless required: `exp` (expired once
 * now ≥ exp + leeway), `nbf` (not before nbf − leeway), `iat` (not in the
 * future beyond the leeway). Non-integer values are refused.
 */
export function checkTimes(
  payload: Record<string, unknown>,
  now: Date,
  code: ErrorCode,
  what: string,
  options: {
    requireExp?: boolean;
    expiredCode?: ErrorCode;
    /** Seconds past `exp` still accepted; CLOCK_LEEWAY_SECONDS unless given. */
    expiryLeeway?: number;
  } = {},
): void {
  const t = nowSeconds(now);
  const expiryLeeway = options.expiryLeeway ?? CLOCK_LEEWAY_SECONDS;
  for (const name of ["exp", "nbf", "iat"] as const) {
    if (payload[name] !== undefined && !Number.isInteger(payload[name])) {
      fail(code, `${what} ${name} must be an integer`);
    }
  }
  if (payload.exp === undefined && options.requireExp) {
    fail(code, `${what} has no exp`);
  }
  if (
    payload.exp !== undefined &&
    t >= (payload.exp as number) + expiryLeeway
  ) {
    fail(options.expiredCode ?? code, `${what} has expired`);
  }
  if (
    payload.nbf !== undefined &&
    (payload.nbf as number) > t + CLOCK_LEEWAY_SECONDS
  ) {
    fail(code, `${what} is not valid yet`);
  }
  if (
    payload.iat !== undefined &&
    (payload.iat as number) > t + CLOCK_LEEWAY_SECONDS
  ) {
    fail(code, `${what} was issued in the future`);
  }
}
