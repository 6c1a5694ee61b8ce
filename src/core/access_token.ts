/** Access tokens: JWTs per RFC 9068 (`typ: at+jwt`), signed with EdDSA. */
import * as jose from "jose";
import { parseAgentDid } from "./did.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import {
  CLOCK_LEEWAY_SECONDS,
  inspectJws,
  nowSeconds,
  SIGNING_ALG,
} from "./jws.ts";
import { parseScopeParam } from "./scope.ts";

export const ACCESS_TOKEN_TYP = "at+jwt";
/** Default and maximum lifetime of an access token, in seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 900;

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  scope: string;
  client_id: string;
  iat: number;
  exp: number;
  jti: string;
  /** The operator's (verified) domain the agent belongs to. */
  domain: string;
}

export async function signAccessToken(
  claims: AccessTokenClaims,
  signingKey: { kid: string; privateKey: CryptoKey },
): Promise<string> {
  return await new jose.SignJWT({ ...claims })
    .setProtectedHeader({
      alg: SIGNING_ALG,
      typ: ACCESS_TOKEN_TYP,
      kid: signingKey.kid,
    })
    .sign(signingKey.privateKey);
}

export interface VerifyAccessTokenOptions {
  issuer: string;
  /** Looks a verification key up by `kid`; undefined when unknown. */
  key: (kid: string) => Promise<CryptoKey | undefined> | CryptoKey | undefined;
  now: Date;
  audience?: string;
  /** Every one of these scopes must be in the token. */
  scopes?: readonly string[];
}

/**
 * Verifies an access token with every check explicit: compact EdDSA JWS with
 * `typ: at+jwt` and a known `kid`, the issuer, expiry (small leeway), the
 * audience and scopes when asked, and the claims RFC 9068 requires.
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyAccessTokenOptions,
): Promise<AccessTokenClaims> {
  const { header } = inspectJws(token, "ERR_TOKEN_INVALID");
  if (header.alg !== SIGNING_ALG) {
    fail("ERR_TOKEN_INVALID", "access tokens are signed with EdDSA");
  }
  if (typeof header.kid !== "string") {
    fail("ERR_TOKEN_INVALID", "token has no kid");
  }
  const key = await options.key(header.kid);
  if (!key) {
    fail(
      "ERR_TOKEN_INVALID",
      `token kid ${JSON.stringify(header.kid)} is not a key of the issuer`,
    );
  }
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(token, key, {
      algorithms: [SIGNING_ALG],
      typ: ACCESS_TOKEN_TYP,
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: CLOCK_LEEWAY_SECONDS,
      currentDate: options.now,
      requiredClaims: [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
      ],
    }));
  } catch (cause) {
    throw joseToError(cause);
  }
  const claims = parseClaims(payload);
  if (claims.iat > nowSeconds(options.now) + CLOCK_LEEWAY_SECONDS) {
    fail("ERR_TOKEN_INVALID", "token was issued in the future");
  }
  if (options.scopes) {
    const held = new Set(parseScopeParam(claims.scope));
    const missing = options.scopes.filter((s) => !held.has(s));
    if (missing.length > 0) {
      fail("ERR_TOKEN_SCOPE", `token lacks scope ${missing.join(" ")}`);
    }
  }
  return claims;
}

function parseClaims(payload: jose.JWTPayload): AccessTokenClaims {
  const p = payload as Record<string, unknown>;
  const strings = [
    "iss",
    "sub",
    "aud",
    "scope",
    "client_id",
    "jti",
    "domain",
  ] as const;
  for (const name of strings) {
    if (typeof p[name] !== "string") {
      fail("ERR_TOKEN_INVALID", `token claim ${name} must be a string`);
    }
  }
  if (!Number.isInteger(p.iat) || !Number.isInteger(p.exp)) {
    fail("ERR_TOKEN_INVALID", "token iat and exp must be integers");
  }
  if (p.sub !== p.client_id) {
    fail("ERR_TOKEN_INVALID", "token sub and client_id differ");
  }
  try {
    parseAgentDid(p.sub as string);
    parseScopeParam(p.scope as string);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_TOKEN_INVALID",
      `token claims are malformed: ${(cause as Error).message}`,
    );
  }
  return {
    iss: p.iss as string,
    sub: p.sub as string,
    aud: p.aud as string,
    scope: p.scope as string,
    client_id: p.client_id as string,
    iat: p.iat as number,
    exp: p.exp as number,
    jti: p.jti as string,
    domain: p.domain as string,
  };
}

function joseToError(cause: unknown): Auth4AgentError {
  if (cause instanceof Auth4AgentError) return cause;
  if (cause instanceof jose.errors.JWTExpired) {
    return new Auth4AgentError("ERR_TOKEN_EXPIRED", "token has expired", {
      cause,
    });
  }
  if (cause instanceof jose.errors.JWTClaimValidationFailed) {
    const code = cause.claim === "aud"
      ? "ERR_TOKEN_AUDIENCE"
      : "ERR_TOKEN_INVALID";
    return new Auth4AgentError(
      code,
      `token claim ${cause.claim} is invalid: ${cause.reason}`,
      { cause },
    );
  }
  if (cause instanceof jose.errors.JWSSignatureVerificationFailed) {
    return new Auth4AgentError(
      "ERR_TOKEN_INVALID",
      "token signature is invalid",
      { cause },
    );
  }
  return new Auth4AgentError(
    "ERR_TOKEN_INVALID",
    `token is invalid: ${(cause as Error).message}`,
    { cause },
  );
}
