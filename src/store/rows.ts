/**
 * Rows to records, shared by the SQLite and PostgreSQL stores. Times are
 * integer milliseconds (PostgreSQL's BIGINT arrives as an exact string).
 */
import { parseStatusClaim } from "../core/status_list.ts";
import { CLOCK_LEEWAY_SECONDS } from "../core/jws.ts";
import type {
  AgentRecord,
  AgentStanding,
  AgentStatus,
  AuditEntry,
  ChallengeRecord,
  FederatedTokenRecord,
  GrantRecord,
  NonceKind,
  OperatorRecord,
  SigningKeyRecord,
  TokenRecord,
  WorkloadIdentityRecord,
} from "./store.ts";

export type Row = Record<string, unknown>;

export const ms = (date: Date) => date.getTime();
export const date = (value: unknown) => new Date(Number(value));
export const optionalDate = (value: unknown) =>
  value === null || value === undefined ? undefined : date(value);
export const optionalString = (value: unknown) =>
  value === null || value === undefined ? undefined : String(value);
export const optionalNumber = (value: unknown) =>
  value === null || value === undefined ? undefined : Number(value);

export function operatorFromRow(row: Row): OperatorRecord {
  return {
    id: String(row.id),
    domain: String(row.domain),
    publicJwk: JSON.parse(String(row.public_jwk)),
    thumbprint: String(row.thumbprint),
    dnsChallenge: String(row.dns_challenge),
    createdAt: date(row.created_at),
    verifiedAt: optionalDate(row.verified_at),
  };
}

export function agentFromRow(row: Row): AgentRecord {
  const changedAt = optionalDate(row.status_changed_at);
  return {
    did: String(row.did),
    domain: String(row.domain),
    operatorId: String(row.operator_id),
    publicJwk: JSON.parse(String(row.public_jwk)),
    createdAt: date(row.created_at),
    status: String(row.status) as AgentStatus,
    statusChange: changedAt && {
      at: changedAt,
      by: String(row.status_changed_by),
      reason: optionalString(row.status_reason),
    },
  };
}

export function tokenFromRow(row: Row): TokenRecord {
  return {
    jti: String(row.jti),
    clientId: String(row.client_id),
    domain: String(row.domain),
    audience: String(row.audience),
    scope: String(row.scope),
    issuedAt: date(row.issued_at),
    expiresAt: date(row.expires_at),
    revokedAt: optionalDate(row.revoked_at),
    revokedBy: optionalString(row.revoked_by),
    revokeReason: optionalString(row.revoke_reason),
    subject: optionalString(row.subject),
    parentJti: optionalString(row.parent_jti),
    statusIdx: optionalNumber(row.status_idx),
  };
}

export function federatedTokenFromRow(row: Row): FederatedTokenRecord {
  return {
    jti: String(row.jti),
    domain: String(row.domain),
    peer: String(row.peer),
    status: parseStatusClaim(JSON.parse(String(row.peer_status))),
  };
}

export function challengeFromRow(row: Row): ChallengeRecord {
  return {
    nonce: String(row.nonce),
    kind: String(row.kind) as NonceKind,
    subject: String(row.subject),
    expiresAt: date(row.expires_at),
  };
}

/** The agent's row, its operator's columns as `operator_*`, its grant's as `grant_*` (or NULL). */
export const AGENT_STANDING_SELECT = `
  SELECT a.*,
    o.domain AS operator_domain, o.public_jwk AS operator_public_jwk,
    o.thumbprint AS operator_thumbprint, o.dns_challenge AS operator_dns_challenge,
    o.created_at AS operator_created_at, o.verified_at AS operator_verified_at,
    g.scopes AS grant_scopes, g.attesters AS grant_attesters,
    g.updated_at AS grant_updated_at
  FROM agents a
  JOIN operators o ON o.id = a.operator_id
  LEFT JOIN grants g ON g.did = a.did`;

export function standingFromRow(row: Row): AgentStanding {
  return {
    agent: agentFromRow(row),
    operator: operatorFromRow({
      id: row.operator_id,
      domain: row.operator_domain,
      public_jwk: row.operator_public_jwk,
      thumbprint: row.operator_thumbprint,
      dns_challenge: row.operator_dns_challenge,
      created_at: row.operator_created_at,
      verified_at: row.operator_verified_at,
    }),
    grant: row.grant_scopes === null || row.grant_scopes === undefined
      ? undefined
      : grantFromRow({
        scopes: row.grant_scopes,
        attesters: row.grant_attesters,
        updated_at: row.grant_updated_at,
      }),
  };
}

export function grantFromRow(row: Row): GrantRecord {
  const attesters = row.attesters === null || row.attesters === undefined
    ? []
    : JSON.parse(String(row.attesters)) as string[];
  return {
    scopes: JSON.parse(String(row.scopes)),
    ...(attesters.length > 0 && { attesters }),
    updatedAt: date(row.updated_at),
  };
}

/**
 * What a grant, as stored now (its `scopes` and `attesters` columns), says
 * of a token being recorded: its scopes must still be granted, and an
 * attestation it asks for must have come (`attestedBy`, its attester). A
 * grant row that is not there was never checked against (no token is
 * issued without one): undefined, nothing to say.
 */
export function grantRefusal(
  grant: { scopes: unknown; attesters: unknown } | undefined,
  scope: string,
  attestedBy: string | undefined,
): "scope_not_granted" | "attestation_required" | undefined {
  if (!grant || grant.scopes === null || grant.scopes === undefined) {
    return undefined;
  }
  const granted = new Set(JSON.parse(String(grant.scopes)) as string[]);
  if (scope.split(" ").some((s) => s !== "" && !granted.has(s))) {
    return "scope_not_granted";
  }
  if (grant.attesters === null || grant.attesters === undefined) {
    return undefined;
  }
  const attesters = JSON.parse(String(grant.attesters)) as string[];
  return attesters.length === 0 ||
      (attestedBy !== undefined && attesters.includes(attestedBy))
    ? undefined
    : "attestation_required";
}

/** A grant's attesters as stored: NULL when it asks for none. */
export function attestersColumn(
  attesters: readonly string[] | undefined,
): string | null {
  return attesters && attesters.length > 0 ? JSON.stringify(attesters) : null;
}

export function signingKeyFromRow(row: Row): SigningKeyRecord {
  return {
    kid: String(row.kid),
    privatePem: String(row.private_pem),
    publicJwk: JSON.parse(String(row.public_jwk)),
    createdAt: date(row.created_at),
    activeFrom: optionalDate(row.active_from),
    retiredAt: optionalDate(row.retired_at),
    tokenTtl: optionalNumber(row.token_ttl),
  };
}

/** Its audience is absent, not undefined, when not set. */
export function workloadIdentityFromRow(row: Row): WorkloadIdentityRecord {
  const audience = optionalString(row.audience);
  return {
    agentDid: String(row.agent_did),
    issuer: String(row.issuer),
    subject: String(row.subject),
    ...(audience !== undefined && { audience }),
    createdAt: date(row.created_at),
    createdBy: String(row.created_by),
  };
}

export function auditEntryFromRow(row: Row): AuditEntry {
  return {
    seq: Number(row.seq),
    at: date(row.at),
    actor: String(row.actor),
    action: String(row.action),
    target: String(row.target),
    outcome: String(row.outcome) as AuditEntry["outcome"],
    reason: optionalString(row.reason),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

/**
 * The earliest expiry of a token a suspension must still revoke: verifiers
 * take tokens up to their clock leeway past `exp`.
 */
export function liveSince(at: Date): number {
  return ms(at) - CLOCK_LEEWAY_SECONDS * 1000;
}
