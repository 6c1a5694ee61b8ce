/**
 * Client authentication by signed JWT (RFC 7523 §2.2, OAuth `private_key_jwt`):
 * the agent signs `iss` = `sub` = its DID, `aud` = the issuer, a unique `jti`,
 * a short `exp`, and — in the challenge–response flow — the challenge `nonce`.
 */
import type { VerifyKey } from "./ed25519.ts";
import { randomToken } from "./encoding.ts";
import { fail } from "./errors.ts";
import {
  CLOCK_LEEWAY_SECONDS,
  hasTyp,
  inspectJws,
  type JwsParts,
  nowSeconds,
  signCompactJws,
  verifyJwsSignature,
} from "./jws.ts";

export const CLIENT_ASSERTION_TYPE =
  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Longest accepted assertion lifetime (`exp` − `iat`), the MCP SDK's default. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
const DEFAULT_ASSERTION_LIFETIME_SECONDS = 60;
const MAX_JTI_LENGTH = 256;

/** RFC 7519 §2 NumericDate: seconds, which may have a fraction (float clocks). */
function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

export interface ClientAssertionInput {
  clientId: string;
  audience: string;
  privateKey: CryptoKey;
  now: Date;
  nonce?: string;
  lifetimeSeconds?: number;
}

export async function createClientAssertion(
  input: ClientAssertionInput,
): Promise<string> {
  const iat = nowSeconds(input.now);
  const claims: Record<string, unknown> = {
    iss: input.clientId,
    sub: input.clientId,
    aud: input.audience,
    jti: randomToken(16),
    iat,
    exp: iat + (input.lifetimeSeconds ?? DEFAULT_ASSERTION_LIFETIME_SECONDS),
  };
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  return await Promise.resolve(
    signCompactJws({ typ: "JWT" }, claims, input.privateKey),
  );
}

export interface VerifiedAssertion {
  jti: string;
  exp: number;
  nonce?: string;
}

/** Parses an assertion and reads `iss` before the signature is checked, to find the client's key. */
export function inspectClientAssertion(
  assertion: string,
): JwsParts & { iss: string } {
  const parts = inspectJws(assertion, "ERR_ASSERTION_INVALID");
  const { payload } = parts;
  if (typeof payload.iss !== "string") {
    fail("ERR_ASSERTION_INVALID", "client assertion has no iss");
  }
  return { ...parts, iss: payload.iss };
}

// Async although the work is synchronous: every refusal is a rejected promise.
// deno-lint-ignore require-await
export async function verifyClientAssertion(
  assertion: string | JwsParts,
  options: {
    clientId: string;
    /** The issuer identifier and the endpoint URLs that are accepted as `aud`. */
    audiences: readonly string[];
    publicKey: VerifyKey;
    now: Date;
  },
): Promise<VerifiedAssertion> {
  const parts = typeof assertion === "string"
    ? inspectJws(assertion, "ERR_ASSERTION_INVALID")
    : assertion;
  const { header, payload } = parts;
  if (
    header.typ !== undefined &&
    !(hasTyp(header, "JWT") || hasTyp(header, "client-authentication+jwt"))
  ) {
    fail(
      "ERR_ASSERTION_INVALID",
      `client assertion typ ${JSON.stringify(header.typ)} is not accepted`,
    );
  }
  if (payload.iss !== options.clientId || payload.sub !== options.clientId) {
    fail(
      "ERR_ASSERTION_INVALID",
      "client assertion iss and sub must both equal client_id",
    );
  }
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (
    !audiences.some((aud) =>
      typeof aud === "string" && options.audiences.includes(aud)
    )
  ) {
    fail(
      "ERR_ASSERTION_INVALID",
      `client assertion aud must be the issuer identifier ${
        options.audiences[0]
      }`,
    );
  }
  if (
    typeof payload.jti !== "string" || payload.jti.length === 0 ||
    payload.jti.length > MAX_JTI_LENGTH
  ) {
    fail(
      "ERR_ASSERTION_INVALID",
      "client assertion needs a jti of 1-256 characters",
    );
  }
  if (!isNumericDate(payload.exp)) {
    fail("ERR_ASSERTION_INVALID", "client assertion needs a numeric exp");
  }
  const exp = payload.exp;
  const now = nowSeconds(options.now);
  if (payload.iat !== undefined && !isNumericDate(payload.iat)) {
    fail("ERR_ASSERTION_INVALID", "client assertion iat must be a number");
  }
  const iat = (payload.iat as number | undefined) ?? now;
  if (iat > now + CLOCK_LEEWAY_SECONDS) {
    fail("ERR_ASSERTION_INVALID", "client assertion was issued in the future");
  }
  if (
    exp - iat > MAX_ASSERTION_LIFETIME_SECONDS ||
    exp - now > MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_LEEWAY_SECONDS
  ) {
    fail(
      "ERR_ASSERTION_INVALID",
      `client assertion lifetime exceeds ${MAX_ASSERTION_LIFETIME_SECONDS} s`,
    );
  }
  if (exp <= now - CLOCK_LEEWAY_SECONDS) {
    fail("ERR_ASSERTION_INVALID", "client assertion has expired");
  }
  if (
    payload.nbf !== undefined &&
    (!isNumericDate(payload.nbf) || payload.nbf > now + CLOCK_LEEWAY_SECONDS)
  ) {
    fail("ERR_ASSERTION_INVALID", "client assertion is not yet valid");
  }
  if (
    payload.nonce !== undefined &&
    (typeof payload.nonce !== "string" || payload.nonce.length > 256)
  ) {
    fail("ERR_ASSERTION_INVALID", "client assertion nonce must be a string");
  }
  verifyJwsSignature(
    parts,
    options.publicKey,
    "ERR_BAD_SIGNATURE",
    "client assertion (with the client's registered key)",
  );
  return { jti: payload.jti, exp, nonce: payload.nonce as string | undefined };
}
