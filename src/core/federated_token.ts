/**
 * Federated tokens: the access tokens a federated issuer (another issuer this
 * one trusts to speak for some domains, serve/federation.ts) gave one of its
 * agents with this issuer as audience, traded at the token endpoint for this
 * issuer's token (RFC 7523 §2.1). Checked as a workload token is (issuer,
 * signature by a key it publishes, expiry, audience, no delegation), and
 * besides: an RFC 9068 access token (`typ` at+jwt) an agent holds for itself
 * (`sub` a did:agent DID, `client_id` the same), its scopes, and the key it
 * is bound to (`cnf.jkt`, RFC 9449 §6.1), if any, for the trade to prove.
 */
import { parseAgentDid } from "./did.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import type { ForeignKey } from "./foreign_keys.ts";
import { parseScopeParam } from "./scope.ts";
import {
  inspectWorkloadToken,
  type TradedTokenKind,
  type UnverifiedWorkloadToken,
  verifyWorkloadToken,
  type WorkloadClaims,
} from "./workload_token.ts";

export const FEDERATED_TOKEN: TradedTokenKind = {
  code: "ERR_FEDERATED_TOKEN_INVALID",
  noun: "federated token",
  typs: ["at+jwt"],
};

export interface FederatedClaims extends WorkloadClaims {
  /** The peer's token's id, for the audit log here. */
  jti: string;
  /** The agent's DID (`sub`), and the domain it names. */
  domain: string;
  scopes: string[];
  /** The thumbprint of the key the token is bound to (DPoP), if it is. */
  jkt?: string;
}

/** Parses a federated token without trusting it: what names the key to check it with. */
export function inspectFederatedToken(
  token: unknown,
): UnverifiedWorkloadToken {
  const inspected = inspectWorkloadToken(token, FEDERATED_TOKEN);
  // An access token says so (RFC 9068 §2.1): never a plain JWT of the peer's.
  if (inspected.header.typ === undefined) {
    fail(
      FEDERATED_TOKEN.code,
      "federated token must be an access token (typ at+jwt, RFC 9068)",
    );
  }
  return inspected;
}

export function verifyFederatedToken(
  token: UnverifiedWorkloadToken,
  key: ForeignKey,
  options: { now: Date },
): FederatedClaims {
  const claims = verifyWorkloadToken(token, key, {
    now: options.now,
    kind: FEDERATED_TOKEN,
    keyBoundChecked: true,
  });
  const { payload } = token;
  // Its client is its subject: the agent's own token, not one a client got
  // for someone (verifyWorkloadToken refused act and may_act).
  if (payload.client_id !== claims.sub) {
    fail(
      FEDERATED_TOKEN.code,
      "federated token must be an agent's own token: its client_id must be its sub",
    );
  }
  // The peer's revocations must reach the trade (its status list).
  if (payload.status === undefined) {
    fail(
      FEDERATED_TOKEN.code,
      "federated token names no status list: its revocation could not be seen",
    );
  }
  if (
    typeof payload.jti !== "string" || payload.jti.length === 0 ||
    payload.jti.length > 256
  ) {
    fail(FEDERATED_TOKEN.code, "federated token has no jti");
  }
  let domain: string;
  try {
    domain = parseAgentDid(claims.sub).domain;
  } catch (cause) {
    throw new Auth4AgentError(
      FEDERATED_TOKEN.code,
      `federated token's sub must be an agent DID: ${(cause as Error).message}`,
    );
  }
  return {
    ...claims,
    jti: payload.jti,
    domain,
    scopes: scopesOf(payload.scope),
    ...(payload.cnf !== undefined && { jkt: thumbprintOf(payload.cnf) }),
  };
}

function scopesOf(scope: unknown): string[] {
  if (typeof scope !== "string") {
    fail(FEDERATED_TOKEN.code, "federated token has no scope");
  }
  try {
    return parseScopeParam(scope);
  } catch (cause) {
    throw new Auth4AgentError(
      FEDERATED_TOKEN.code,
      `federated token's scope is malformed: ${(cause as Error).message}`,
    );
  }
}

/** `cnf` with a JWK SHA-256 thumbprint (RFC 9449 §6.1), and nothing else we would have to honour. */
function thumbprintOf(cnf: unknown): string {
  const jkt = (cnf as { jkt?: unknown } | null)?.jkt;
  if (
    typeof cnf !== "object" || cnf === null || Array.isArray(cnf) ||
    Object.keys(cnf).length !== 1 || typeof jkt !== "string" ||
    !/^[A-Za-z0-9_-]{43}$/.test(jkt)
  ) {
    fail(
      FEDERATED_TOKEN.code,
      "federated token's cnf must be a DPoP key thumbprint (jkt) alone",
    );
  }
  return jkt;
}
