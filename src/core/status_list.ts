/**
 * Token Status List (draft-ietf-oauth-status-list): how offline verifiers
 * learn of revocations. Every access token carries `status.status_list`
 * (`idx`, `uri`); the issuer serves, at `uri`, a signed JWT (`typ:
 * statuslist+jwt`) holding a ZLIB-compressed bit array in which bit `idx` is
 * 1 when that token is revoked (bits = 1: VALID 0, INVALID 1). Tokens are
 * numbered across lists of STATUS_LIST_SIZE: token number n is bit n mod
 * STATUS_LIST_SIZE of list floor(n / STATUS_LIST_SIZE).
 */
import { deflateSync, inflateSync } from "node:zlib";
import { base64url, fromBase64url, utf8Scratch } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import {
  checkTimes,
  type ForeignJws,
  hasTyp,
  inspectJws,
  parseForeignJws,
  signCompactJws,
  SIGNING_ALG,
  verifyJwsSignature,
} from "./jws.ts";
import type { VerifyKey } from "./ed25519.ts";
import type { ForeignAlg, ForeignKey } from "./foreign_keys.ts";

/**
 * Tokens a list holds: 16 KiB of bits, so that even a list whose every
 * token was revoked stays a small answer (≤ 32 KiB as a JWT), while at a
 * few tokens a second a list lasts hours (a verifier fetches few).
 */
export const STATUS_LIST_SIZE = 131_072;
export const STATUS_LIST_TYP = "statuslist+jwt";
export const STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt";
/** The longest status list JWT: the incompressible worst case, with room for its claims. */
export const MAX_STATUS_LIST_JWS_LENGTH = 32_768;
/** Seconds a verifier may cache a list (`ttl`), and that a list is valid (`exp`). */
export const STATUS_LIST_TTL_SECONDS = 60;
export const STATUS_LIST_LIFETIME_SECONDS = 600;
/** The path lists are served under: `<issuer>/oauth/status-lists/<n>`. */
export const STATUS_LISTS_PATH = "/oauth/status-lists";

/** The `status` claim of a token (draft-ietf-oauth-status-list §6.2). */
export interface StatusClaim {
  status_list: { idx: number; uri: string };
}

/** The claim for token number `index` of this issuer. */
export function statusClaim(issuer: string, index: number): StatusClaim {
  return {
    status_list: {
      idx: index % STATUS_LIST_SIZE,
      uri: statusListUri(issuer, Math.floor(index / STATUS_LIST_SIZE)),
    },
  };
}

export function statusListUri(issuer: string, list: number): string {
  return `${issuer}${STATUS_LISTS_PATH}/${list}`;
}

/** Parses a token's `status` claim as we issue it; throws on anything else. */
export function parseStatusClaim(value: unknown): StatusClaim {
  const status = plainObject(value, "status");
  const list = plainObject(status.status_list, "status.status_list");
  const { idx, uri } = list;
  if (
    typeof idx !== "number" || !Number.isInteger(idx) || idx < 0 ||
    idx >= STATUS_LIST_SIZE
  ) {
    throw new Error(
      `status_list.idx must be an integer from 0 to ${STATUS_LIST_SIZE - 1}`,
    );
  }
  if (typeof uri !== "string" || !URL.canParse(uri)) {
    throw new Error("status_list.uri must be a URI");
  }
  return { status_list: { idx, uri } };
}

function plainObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${name} must be an object`);
  }
  return value as Record<string, unknown>;
}

/** The list's `lst`: bits set at `revoked` (list-relative), DEFLATE in ZLIB, base64url (§4.1). */
export function encodeStatusList(revoked: Iterable<number>): string {
  const bytes = new Uint8Array(STATUS_LIST_SIZE / 8);
  for (const index of revoked) {
    if (!Number.isInteger(index) || index < 0 || index >= STATUS_LIST_SIZE) {
      throw new RangeError(`status index ${index} is outside the list`);
    }
    bytes[index >> 3]! |= 1 << (index & 7);
  }
  // zlib's default level, not the highest the draft recommends (§4.1): a
  // list with 1,000 revocations took 1.8 ms to encode and sign at level 9,
  // 0.17 ms at 6, for a JWT 8% shorter (2,976 against 3,237 characters;
  // bench/status_list_bench.ts) — CPU the issuer spends on every request.
  return base64url(deflateSync(bytes, { level: 6 }));
}

/**
 * The byte array of an `lst`, refusing more than a list of `width` bits a
 * token holds (a zip bomb): 131,072 tokens, the size of ours.
 */
export function decodeStatusList(lst: string, width = 1): Uint8Array {
  try {
    const bytes = inflateSync(fromBase64url(lst), {
      maxOutputLength: STATUS_LIST_SIZE * width / 8,
    });
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_STATUS_LIST_INVALID",
      "status list lst is not a compressed bit array of at most one list",
      { cause },
    );
  }
}

/** The widths a list may give each token (§4.1: the `bits` claim). */
export const STATUS_WIDTHS = [1, 2, 4, 8] as const;
export type StatusWidth = typeof STATUS_WIDTHS[number];

/**
 * Token `idx`'s status in a list of `width` bits a token, least significant
 * bits first (§4.1): 0 valid, 1 invalid (revoked), 2 suspended, others the
 * issuer's own (§7.1); undefined beyond the array.
 */
export function statusAt(
  bytes: Uint8Array,
  width: StatusWidth,
  idx: number,
): number | undefined {
  const bit = idx * width;
  const byte = bytes[bit >> 3];
  return byte === undefined
    ? undefined
    : (byte >> (bit & 7)) & ((1 << width) - 1);
}

/** What a status other than valid is called, for a refusal. */
export function statusName(status: number): string {
  return status === 1
    ? "revoked"
    : status === 2
    ? "suspended"
    : `not valid (status ${status})`;
}

export interface StatusListToken {
  uri: string;
  /** The key that signed it: a verifier stops using the list once the key leaves the JWKS. */
  kid: string;
  /** Bits a token (ours: 1). */
  width: StatusWidth;
  iat: number;
  exp: number;
  ttl: number;
  bits: Uint8Array;
}

/** Signs a status list token (§5.1) for `uri`, issued at `iat` (seconds). */
export function signStatusList(
  list: { uri: string; iat: number; lst: string },
  signingKey: { kid: string; privateKey: CryptoKey },
): string {
  return signCompactJws(
    { typ: STATUS_LIST_TYP, kid: signingKey.kid },
    {
      sub: list.uri,
      iat: list.iat,
      exp: list.iat + STATUS_LIST_LIFETIME_SECONDS,
      ttl: STATUS_LIST_TTL_SECONDS,
      status_list: { bits: 1, lst: list.lst },
    },
    signingKey.privateKey,
  );
}

/**
 * Verifies one of our issuer's status list tokens as §8.3 asks: an EdDSA
 * signature by a key of the issuer (by kid), then statusListClaims.
 */
export function verifyStatusList(
  jwt: string,
  options: {
    uri: string;
    /** The issuer's key by kid (the verifier's key set). */
    key: (kid: string) => VerifyKey | undefined;
    now: Date;
  },
): StatusListToken {
  const code = "ERR_STATUS_LIST_INVALID";
  const parts = inspectJws(jwt, code, {
    maxLength: MAX_STATUS_LIST_JWS_LENGTH,
  });
  const { header, payload } = parts;
  if (header.alg !== SIGNING_ALG || typeof header.kid !== "string") {
    fail(code, "status list must be signed with EdDSA and name its kid");
  }
  requireStatusListTyp(header);
  const key = options.key(header.kid);
  if (!key) fail(code, `status list kid is not a key of the issuer`);
  verifyJwsSignature(parts, key, code, "status list");
  return statusListClaims(payload, header.kid, options);
}

/** The algorithms another issuer's status list may be signed with. */
export const FOREIGN_STATUS_LIST_ALGS = ["EdDSA", "Ed25519", "ES256", "RS256"];

/**
 * Another issuer's status list token, parsed (`parseForeignStatusList`):
 * its signature checked with that issuer's key for its `alg` and `kid`,
 * then statusListClaims.
 */
export function verifyForeignStatusList(
  parsed: ForeignJws,
  options: { uri: string; key: ForeignKey; now: Date },
): StatusListToken {
  if (!options.key.verify(utf8Scratch(parsed.signingInput), parsed.signature)) {
    fail("ERR_STATUS_LIST_INVALID", "status list signature does not verify");
  }
  return statusListClaims(parsed.payload, parsed.header.kid as string, options);
}

/** Another issuer's status list token, parsed: an accepted `alg`, a `kid`, the typ. */
export function parseForeignStatusList(
  jwt: string,
): ForeignJws & { alg: ForeignAlg; kid: string } {
  const code = "ERR_STATUS_LIST_INVALID";
  const parsed = parseForeignJws(
    jwt,
    code,
    "status list",
    MAX_STATUS_LIST_JWS_LENGTH,
  );
  const { alg, kid } = parsed.header;
  if (
    !FOREIGN_STATUS_LIST_ALGS.includes(alg as string) ||
    typeof kid !== "string" || kid.length > 256
  ) {
    fail(
      code,
      `status list must be signed with ${
        FOREIGN_STATUS_LIST_ALGS.join(", ")
      } and name its kid`,
    );
  }
  for (const name of ["jwk", "jku", "x5u", "x5c", "crit"]) {
    if (name in parsed.header) {
      fail(code, `status list header ${name} is not accepted`);
    }
  }
  requireStatusListTyp(parsed.header);
  return { ...parsed, alg: alg as ForeignAlg, kid };
}

function requireStatusListTyp(header: Record<string, unknown>): void {
  if (!hasTyp(header, STATUS_LIST_TYP)) {
    fail(
      "ERR_STATUS_LIST_INVALID",
      `status list typ must be ${STATUS_LIST_TYP}`,
    );
  }
}

/**
 * A verified list's claims as §8.3 asks: `sub` equal to the `uri` the token
 * named, `iat`, `exp` (required here: a list never stops being believed
 * otherwise), `ttl`, and `status_list` with bits 1, 2, 4 or 8. `ttl` and
 * `exp − iat` may not pass what an issuer gives
 * (STATUS_LIST_LIFETIME_SECONDS): a list forged with a leaked key cannot be
 * made to stand for years.
 */
function statusListClaims(
  payload: Record<string, unknown>,
  kid: string,
  options: { uri: string; now: Date },
): StatusListToken {
  const code = "ERR_STATUS_LIST_INVALID";
  checkTimes(payload, options.now, code, "status list", { requireExp: true });
  if (payload.sub !== options.uri) {
    fail(code, `status list sub is not ${options.uri}`);
  }
  const { iat, exp, ttl } = payload;
  if (!Number.isInteger(iat) || typeof ttl !== "number" || !(ttl > 0)) {
    fail(code, "status list needs iat and a positive ttl");
  }
  if (
    ttl > STATUS_LIST_LIFETIME_SECONDS ||
    (exp as number) - (iat as number) > STATUS_LIST_LIFETIME_SECONDS
  ) {
    fail(
      code,
      `status list ttl and lifetime are at most ${STATUS_LIST_LIFETIME_SECONDS} s`,
    );
  }
  let list: Record<string, unknown>;
  try {
    list = plainObject(payload.status_list, "status_list");
  } catch (cause) {
    throw new Auth4AgentError(code, (cause as Error).message);
  }
  const width = list.bits as StatusWidth;
  if (!STATUS_WIDTHS.includes(width) || typeof list.lst !== "string") {
    fail(code, "status list must have bits 1, 2, 4 or 8 and an lst");
  }
  return {
    uri: options.uri,
    kid,
    width,
    iat: iat as number,
    exp: exp as number,
    ttl,
    bits: decodeStatusList(list.lst, width),
  };
}
