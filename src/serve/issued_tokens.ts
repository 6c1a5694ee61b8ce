/** Finding a token this issuer signed, for introspection and revocation. */
import {
  ACCESS_TOKEN_TYP,
  type AccessTokenClaims,
  type DELEGATION_TYP,
  verifyAccessToken,
} from "../core/access_token.ts";
import { Auth4AgentError } from "../core/errors.ts";
import type { TokenRecord } from "../store/store.ts";
import type { AppDeps } from "./context.ts";

export interface IssuedToken {
  claims: AccessTokenClaims;
  record: TokenRecord;
}

/**
 * The token's verified claims and its record, or undefined when the token is
 * malformed, forged, expired, not ours, unknown, or not of `typ` (an access
 * token unless told: a delegation is found only where one is asked for).
 */
export async function findIssuedToken(
  token: string,
  deps: AppDeps,
  options: {
    typ?: typeof ACCESS_TOKEN_TYP | typeof DELEGATION_TYP;
    /** Seconds past `exp` still found (revocation: the verifiers' leeway); 0 by default. */
    expiryLeeway?: number;
  } = {},
): Promise<IssuedToken | undefined> {
  let claims: AccessTokenClaims;
  try {
    claims = await verifyAccessToken(token, {
      issuer: deps.issuer,
      key: (kid) => deps.keys.findPublicKey(kid, deps.now()),
      now: deps.now(),
      // Our own tokens by our own clock: inactive from `exp` on (RFC 7662
      // §2.2), not after the leeway other verifiers allow for clock skew.
      expiryLeeway: options.expiryLeeway ?? 0,
      typ: options.typ ?? ACCESS_TOKEN_TYP,
    });
  } catch (error) {
    if (error instanceof Auth4AgentError) return undefined;
    throw error;
  }
  const record = await deps.store.getToken(claims.jti);
  // The record must be this token's: its holder, and its subject when delegated.
  if (
    !record || record.clientId !== claims.client_id ||
    (record.subject ?? record.clientId) !== claims.sub
  ) return undefined;
  return { claims, record };
}
