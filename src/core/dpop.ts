/**
 * DPoP (RFC 9449): sender-constrained access tokens. With each request the
 * client sends a proof — a JWT it signs with a key of its own, carrying that
 * key's public JWK, the request's method and URL, a time and a unique id —
 * and an access token issued with a proof is bound to the proof's key
 * (`cnf.jkt`, its RFC 7638 thumbprint): without that private key a stolen
 * token is of no use. Proofs are checked here exactly as RFC 9449 §4.3 lists
 * the steps; keeping a proof from being used twice is the caller's part
 * (`jti`, until `replayableUntil`).
 */
import { createHash } from "node:crypto";
import { base64url, randomToken, utf8Scratch } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import {
  CLOCK_LEEWAY_SECONDS,
  hasTyp,
  nowSeconds,
  parseForeignJws,
  signCompactJws,
} from "./jws.ts";
import { type ForeignKey, foreignKey } from "./foreign_keys.ts";
import type { Ed25519PublicJwk } from "./keys.ts";

/** The request header that carries the proof, and the authorization scheme of a bound token. */
export const DPOP_HEADER = "DPoP";
export const DPOP_SCHEME = "DPoP";
export const DPOP_TYP = "dpop+jwt";
/**
 * Proof algorithms we accept (the metadata's
 * `dpop_signing_alg_values_supported`): our agents' Ed25519, and ES256,
 * which most DPoP clients use by default.
 */
export const DPOP_ALGS = ["EdDSA", "Ed25519", "ES256"] as const;
/**
 * How old a proof may be (by its `iat`): long enough for a slow network,
 * short, since a verifier remembers every proof's `jti` for this long.
 */
export const DPOP_MAX_AGE_SECONDS = 60;
const MAX_JTI_LENGTH = 256;
/** What the CLI takes for a method to name in a proof. */
export const HTTP_METHOD = /^[A-Za-z]{1,16}$/;

/** The binding an access token carries (RFC 9449 §6, RFC 7800). */
export interface Confirmation {
  jkt: string;
}

export interface DpopProofInput {
  method: string;
  /** The request's URL; its query and fragment are left out (§4.2). */
  url: string;
  privateKey: CryptoKey;
  publicJwk: Ed25519PublicJwk;
  now: Date;
  /** The access token sent with the proof (`ath`), for a resource server. */
  accessToken?: string;
}

/** A proof signed with an Ed25519 key (the agent's own). */
export function createDpopProof(input: DpopProofInput): string {
  return signCompactJws(
    {
      typ: DPOP_TYP,
      jwk: { kty: "OKP", crv: "Ed25519", x: input.publicJwk.x },
    },
    {
      jti: randomToken(16),
      htm: input.method.toUpperCase(),
      htu: targetUri(input.url) ?? input.url,
      iat: nowSeconds(input.now),
      ...(input.accessToken !== undefined &&
        { ath: accessTokenHash(input.accessToken) }),
    },
    input.privateKey,
  );
}

export interface VerifyDpopProofOptions {
  /** The request's method and URL, as the server received them. */
  method: string;
  url: string;
  now: Date;
  /** At a resource server: the access token the proof must name (`ath`). */
  accessToken?: string;
}

export interface VerifiedDpopProof {
  /** The thumbprint of the proof's key: what a token is bound to. */
  jkt: string;
  jti: string;
  /** After this time (seconds) the proof is refused as too old: remember its jti until then. */
  replayableUntil: number;
}

/**
 * Checks a proof from outside (RFC 9449 §4.3): one header value, a compact
 * JWS typed `dpop+jwt`, an accepted asymmetric `alg` matching the public
 * `jwk` in its header, a signature by that key, `htm` and `htu` naming this
 * request, an `iat` no older than DPOP_MAX_AGE_SECONDS and not in the future
 * (beyond the clock leeway), a `jti`, and `ath` when a token comes with it.
 */
export function verifyDpopProof(
  proof: string | null,
  options: VerifyDpopProofOptions,
): VerifiedDpopProof {
  if (proof === null) fail("ERR_DPOP_PROOF_INVALID", "DPoP proof is missing");
  if (proof.includes(",")) {
    fail("ERR_DPOP_PROOF_INVALID", "send exactly one DPoP header");
  }
  const { header, payload, signingInput, signature } = parseForeignJws(
    proof,
    "ERR_DPOP_PROOF_INVALID",
    "DPoP proof",
  );
  if (!hasTyp(header, DPOP_TYP)) {
    fail("ERR_DPOP_PROOF_INVALID", `DPoP proof typ must be ${DPOP_TYP}`);
  }
  if (!DPOP_ALGS.includes(header.alg as typeof DPOP_ALGS[number])) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      `DPoP proof alg ${JSON.stringify(header.alg)} is not accepted (${
        DPOP_ALGS.join(", ")
      })`,
    );
  }
  if ("crit" in header) {
    fail("ERR_DPOP_PROOF_INVALID", "DPoP proof header crit is not accepted");
  }
  const key = proofKey(header.jwk, header.alg as typeof DPOP_ALGS[number]);
  if (!key.verify(utf8Scratch(signingInput), signature)) {
    fail("ERR_DPOP_PROOF_INVALID", "DPoP proof signature does not verify");
  }
  return {
    jkt: key.thumbprint,
    ...checkClaims(payload, options),
  };
}

function checkClaims(
  payload: Record<string, unknown>,
  options: VerifyDpopProofOptions,
): { jti: string; replayableUntil: number } {
  const { jti, htm, htu, iat, ath } = payload;
  if (
    typeof jti !== "string" || jti.length === 0 ||
    jti.length > MAX_JTI_LENGTH
  ) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      `DPoP proof jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`,
    );
  }
  if (htm !== options.method.toUpperCase()) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      `DPoP proof htm is not this request's method ${options.method.toUpperCase()}`,
    );
  }
  const expected = targetUri(options.url);
  if (
    typeof htu !== "string" || expected === undefined ||
    targetUri(htu) !== expected
  ) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      `DPoP proof htu is not this request's URL ${expected ?? options.url}`,
    );
  }
  if (!Number.isInteger(iat)) {
    fail("ERR_DPOP_PROOF_INVALID", "DPoP proof iat must be an integer");
  }
  const t = nowSeconds(options.now);
  if ((iat as number) > t + CLOCK_LEEWAY_SECONDS) {
    fail("ERR_DPOP_PROOF_INVALID", "DPoP proof was made in the future");
  }
  const replayableUntil = (iat as number) + DPOP_MAX_AGE_SECONDS;
  if (t > replayableUntil) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      `DPoP proof is older than ${DPOP_MAX_AGE_SECONDS} s: make a new one for each request`,
    );
  }
  if (
    options.accessToken !== undefined &&
    ath !== accessTokenHash(options.accessToken)
  ) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      "DPoP proof ath is not the hash of the access token sent with it",
    );
  }
  return { jti, replayableUntil };
}

/**
 * `htu` as compared (§4.3 step 9, with RFC 3986 §6.2.2–6.2.3
 * normalization as a WHATWG URL parse does it: scheme and host in lower
 * case, default port dropped, dot segments resolved): an http(s) URL
 * without its query and fragment. Undefined for anything else.
 */
export function targetUri(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    return undefined;
  }
  if (parsed.username || parsed.password) return undefined;
  return `${parsed.origin}${parsed.pathname}`;
}

/** `ath`: base64url of the SHA-256 of the access token's ASCII (§4.2). */
export function accessTokenHash(accessToken: string): string {
  return base64url(createHash("sha256").update(accessToken).digest());
}

/** The proof's public key, of the kind its `alg` names, with no private part. */
function proofKey(jwk: unknown, alg: typeof DPOP_ALGS[number]): ForeignKey {
  if (jwk === undefined) {
    fail(
      "ERR_DPOP_PROOF_INVALID",
      "DPoP proof header must carry the public key (jwk)",
    );
  }
  try {
    return foreignKey(jwk, alg);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_DPOP_PROOF_INVALID",
      `DPoP proof jwk is not a public key for ${alg}: ${
        (cause as Error).message
      }`,
      { cause },
    );
  }
}
