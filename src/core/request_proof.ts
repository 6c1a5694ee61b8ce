/**
 * Signed requests for operator actions and registrations — never a bearer
 * secret. The signer sends a compact JWS (typ `a4a-request+jwt`, in the
 * `Auth4Agent-Signature` header) binding the HTTP method, the path, a SHA-256
 * of the exact body bytes, a time and a single-use server nonce, in the manner
 * of DPoP (RFC 9449) proofs. A registered signer names itself by `kid`; a new
 * one embeds its public `jwk` (proof of possession, as in ACME).
 */
import type { VerifyKey } from "./ed25519.ts";
import { base64url, randomToken, sha256 } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import { type Ed25519PublicJwk, parsePublicJwk } from "./keys.ts";
import {
  checkTimes,
  CLOCK_LEEWAY_SECONDS,
  hasTyp,
  inspectJws,
  nowSeconds,
  signCompactJws,
  verifyJwsSignature,
} from "./jws.ts";

export const REQUEST_PROOF_HEADER = "Auth4Agent-Signature";
export const REQUEST_PROOF_TYP = "a4a-request+jwt";
/** How far `iat` may be from the server's clock. */
const MAX_PROOF_AGE_SECONDS = 300;

export interface RequestProofInput {
  method: string;
  /** Path and query of the request, e.g. `/v1/agents`. */
  path: string;
  body: Uint8Array<ArrayBuffer>;
  nonce: string;
  privateKey: CryptoKey;
  now: Date;
  /** Set for a registered signer (operator id or agent DID)… */
  kid?: string;
  /** …or the public key, for a signer registering itself. */
  jwk?: Ed25519PublicJwk;
}

export async function createRequestProof(
  input: RequestProofInput,
): Promise<string> {
  const header: Record<string, unknown> = { typ: REQUEST_PROOF_TYP };
  if (input.kid) header.kid = input.kid;
  if (input.jwk) header.jwk = { kty: "OKP", crv: "Ed25519", x: input.jwk.x };
  return signCompactJws(header, {
    htm: input.method.toUpperCase(),
    htp: input.path,
    bsh: base64url(await sha256(input.body)),
    nonce: input.nonce,
    iat: nowSeconds(input.now),
    jti: randomToken(16),
  }, input.privateKey);
}

export interface UnverifiedRequestProof {
  kid?: string;
  jwk?: Ed25519PublicJwk;
  nonce: string;
}

/** Reads who claims to have signed, and the nonce, before any signature work. */
export function inspectRequestProof(
  proof: string | null,
): UnverifiedRequestProof {
  if (!proof) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      `this request must be signed (${REQUEST_PROOF_HEADER} header)`,
    );
  }
  const { header, payload } = inspectJws(
    proof,
    "ERR_REQUEST_SIGNATURE_INVALID",
    { allowJwk: true },
  );
  if (header.typ !== REQUEST_PROOF_TYP) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      `request signature typ must be ${REQUEST_PROOF_TYP}`,
    );
  }
  if (
    typeof payload.nonce !== "string" || payload.nonce.length === 0 ||
    payload.nonce.length > 256
  ) {
    fail("ERR_REQUEST_SIGNATURE_INVALID", "request signature has no nonce");
  }
  if ((header.kid === undefined) === (header.jwk === undefined)) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      "request signature must carry exactly one of kid and jwk",
    );
  }
  if (
    header.kid !== undefined &&
    (typeof header.kid !== "string" || header.kid.length > 300)
  ) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      "request signature kid must be a string",
    );
  }
  let jwk: Ed25519PublicJwk | undefined;
  if (header.jwk !== undefined) {
    try {
      jwk = parsePublicJwk(header.jwk);
    } catch (cause) {
      throw new Auth4AgentError("ERR_INVALID_KEY", (cause as Error).message, {
        cause,
      });
    }
  }
  return { kid: header.kid as string | undefined, jwk, nonce: payload.nonce };
}

/** Checks the signature and that the proof covers exactly this request. */
export async function verifyRequestProof(
  proof: string,
  request: { method: string; path: string; body: Uint8Array<ArrayBuffer> },
  publicKey: VerifyKey,
  now: Date,
): Promise<void> {
  const parts = inspectJws(proof, "ERR_REQUEST_SIGNATURE_INVALID", {
    allowJwk: true,
  });
  if (!hasTyp(parts.header, REQUEST_PROOF_TYP)) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      `request signature typ must be ${REQUEST_PROOF_TYP}`,
    );
  }
  verifyJwsSignature(
    parts,
    publicKey,
    "ERR_REQUEST_SIGNATURE_INVALID",
    "request (with the signer's key)",
  );
  const payload = parts.payload;
  checkTimes(
    payload,
    now,
    "ERR_REQUEST_SIGNATURE_INVALID",
    "request signature",
  );
  if (typeof payload.htm !== "string" || typeof payload.htp !== "string") {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      "request signature htm and htp must be strings",
    );
  }
  if (
    payload.htm !== request.method.toUpperCase() || payload.htp !== request.path
  ) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      `request signature is for ${JSON.stringify(payload.htm)} ${
        JSON.stringify(payload.htp)
      }, not ${JSON.stringify(request.method)} ${JSON.stringify(request.path)}`,
    );
  }
  if (payload.bsh !== base64url(await sha256(request.body))) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      "request signature does not cover this body",
    );
  }
  const iat = payload.iat;
  const t = nowSeconds(now);
  if (
    typeof iat !== "number" || iat > t + CLOCK_LEEWAY_SECONDS ||
    iat < t - MAX_PROOF_AGE_SECONDS
  ) {
    fail(
      "ERR_REQUEST_SIGNATURE_INVALID",
      "request signature iat is too far from the issuer's clock",
    );
  }
}
