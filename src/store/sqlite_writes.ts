/**
 * Every write of the SQLite store, as named operations on a connection,
 * run inside a group-commit batch (group_commit.ts).
 */
import type { Ed25519PublicJwk } from "../core/keys.ts";
import { auditHash, GENESIS_HASH } from "./audit_chain.ts";
import {
  attestersColumn,
  challengeFromRow,
  grantRefusal,
  liveSince,
  ms,
  type Row,
} from "./rows.ts";
import type { SqliteConnection } from "./sqlite_connection.ts";
import type {
  AgentRecord,
  AgentStatus,
  AuditEvent,
  ChallengeRecord,
  IssuanceOutcome,
  NonceKind,
  OperatorRecord,
  SigningKeyRecord,
  SingleUse,
  StatusChange,
  TokenRecord,
  TradedToken,
  WorkloadIdentityRecord,
} from "./store.ts";
import { MAX_WORKLOAD_IDENTITIES } from "./store.ts";

function insertToken(c: SqliteConnection, token: TokenRecord): void {
  c.insert(
    "INSERT INTO tokens (jti, client_id, domain, audience, scope, issued_at, expires_at, revoked_at, subject, parent_jti, status_idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    token.jti,
    token.clientId,
    token.domain,
    token.audience,
    token.scope,
    ms(token.issuedAt),
    ms(token.expiresAt),
    token.revokedAt ? ms(token.revokedAt) : null,
    token.subject ?? null,
    token.parentJti ?? null,
    token.statusIdx ?? null,
  );
}

/**
 * Revokes the tokens `roots` selects and every token delegated from them
 * (their children, theirs, …, through tokens_parent), each unless revoked
 * before (the first revocation is kept). The walk goes through revoked
 * tokens too, so none is left unrevoked below a revoked one. Parameters: the
 * roots', then revoked_at, revoked_by, revoke_reason.
 */
const revokeTrees = (roots: string) => `
  WITH RECURSIVE tree (jti) AS (
    ${roots}
    UNION
    SELECT t.jti FROM tokens t JOIN tree ON t.parent_jti = tree.jti)
  UPDATE tokens SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
  WHERE jti IN (SELECT jti FROM tree) AND revoked_at IS NULL`;

/** Exported, with the next, for the test of their query plans. */
export const REVOKE_TOKEN = revokeTrees(
  "SELECT jti FROM tokens WHERE jti = ?",
);
/** The agent's live tokens, held or acted for (tokens_client, tokens_subject). */
export const REVOKE_AGENT_TOKENS = revokeTrees(
  "SELECT jti FROM tokens WHERE (client_id = ? OR subject = ?) AND expires_at > ?",
);

function appendAuditRow(c: SqliteConnection, event: AuditEvent): void {
  // Inside a batch (BEGIN IMMEDIATE holds the write lock) the head cannot
  // move under us, so it is read once and then carried along.
  let head = c.auditHead;
  if (!head) {
    const last = c.stmt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
      .get() as Row | undefined;
    head = last
      ? { seq: Number(last.seq), hash: String(last.hash) }
      : { seq: 0, hash: GENESIS_HASH };
  }
  const seq = head.seq + 1;
  const prevHash = head.hash;
  const hash = auditHash(prevHash, event, seq);
  c.stmt(
    "INSERT INTO audit (seq, at, actor, action, target, outcome, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  ).run(
    seq,
    ms(event.at),
    event.actor,
    event.action,
    event.target,
    event.outcome,
    event.reason ?? null,
    prevHash,
    hash,
  );
  if (c.db.isTransaction) c.auditHead = { seq, hash };
}

function consumeChallenge(
  c: SqliteConnection,
  nonce: string,
  kind: NonceKind,
  subject: string,
  now: Date,
): ChallengeRecord | undefined {
  // One statement: the row is gone for every later caller, and a row that
  // has expired is never returned.
  const row = c.stmt(
    "DELETE FROM challenges WHERE nonce = ? AND kind = ? AND subject = ? AND expires_at > ? RETURNING nonce, kind, subject, expires_at",
  ).get(nonce, kind, subject, ms(now)) as Row | undefined;
  return row && challengeFromRow(row);
}

/** The token a delegated one is exchanged for is recorded and not revoked. */
function parentUnrevoked(c: SqliteConnection, parentJti: string): boolean {
  return c.stmt("SELECT 1 FROM tokens WHERE jti = ? AND revoked_at IS NULL")
    .get(parentJti) !== undefined;
}

/** The issuing agent's status and key, and its grant as it is now: one statement. */
const ISSUING_AGENT =
  "SELECT a.status, a.public_jwk, g.scopes, g.attesters FROM agents a LEFT JOIN grants g ON g.did = a.did WHERE a.did = ?";

function grantOf(
  c: SqliteConnection,
  did: string,
): { scopes: unknown; attesters: unknown } | undefined {
  return c.stmt("SELECT scopes, attesters FROM grants WHERE did = ?").get(
    did,
  ) as { scopes: unknown; attesters: unknown } | undefined;
}

/** A binding, by its primary key; exported for the test of its plan. */
export const WORKLOAD_BOUND =
  "SELECT 1 FROM workload_identities WHERE agent_did = ? AND issuer = ? AND subject = ?";

/** The workload identity is (still) bound to the agent. */
function workloadBound(
  c: SqliteConnection,
  agentDid: string,
  workload: { issuer: string; subject: string },
): boolean {
  return c.stmt(WORKLOAD_BOUND).get(
    agentDid,
    workload.issuer,
    workload.subject,
  ) !== undefined;
}

/**
 * The error for consuming a workload's single use on its own: it consumes
 * nothing, and names no agent to check its binding against (recordIssuance
 * does, for `token.clientId`). A programming error.
 */
export function workloadNotConsumable(): Error {
  return new Error(
    "a workload identity is not consumed: pass it to recordIssuance, which checks its binding",
  );
}

/** Single use is one statement: the changed-row count decides, never a read first. */
function consumeSingleUse(c: SqliteConnection, singleUse: SingleUse): boolean {
  if ("challenge" in singleUse) {
    const { challenge, subject, now } = singleUse;
    return consumeChallenge(c, challenge, "token_challenge", subject, now) !==
      undefined;
  }
  if ("workload" in singleUse) throw workloadNotConsumable();
  return c.replay.consume(
    c,
    singleUse.clientId,
    singleUse.jti,
    singleUse.expiresAt,
  );
}

export const WRITES = {
  createOperator(
    c: SqliteConnection,
    op: OperatorRecord,
    event?: AuditEvent,
  ): void {
    c.insert(
      "INSERT INTO operators (id, domain, public_jwk, thumbprint, dns_challenge, created_at, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      op.id,
      op.domain,
      JSON.stringify(op.publicJwk),
      op.thumbprint,
      op.dnsChallenge,
      ms(op.createdAt),
      op.verifiedAt ? ms(op.verifiedAt) : null,
    );
    if (event) appendAuditRow(c, event);
  },

  markOperatorVerified(
    c: SqliteConnection,
    id: string,
    at: Date,
    event?: AuditEvent,
  ): boolean {
    const taken = c.stmt(
      "SELECT 1 FROM operators WHERE domain = (SELECT domain FROM operators WHERE id = ?) AND id <> ? AND verified_at IS NOT NULL",
    ).get(id, id);
    if (taken) return false;
    const marked = c.stmt(
      "UPDATE operators SET verified_at = ? WHERE id = ? AND verified_at IS NULL",
    ).run(ms(at), id);
    // Verified before: true again, but nothing changed to audit.
    if (Number(marked.changes) === 1 && event) appendAuditRow(c, event);
    return true;
  },

  createAgent(
    c: SqliteConnection,
    agent: AgentRecord,
    event?: AuditEvent,
  ): void {
    c.insert(
      "INSERT INTO agents (did, domain, operator_id, public_jwk, created_at, status) VALUES (?, ?, ?, ?, ?, ?)",
      agent.did,
      agent.domain,
      agent.operatorId,
      JSON.stringify(agent.publicJwk),
      ms(agent.createdAt),
      agent.status,
    );
    if (event) appendAuditRow(c, event);
  },

  rotateAgentKey(
    c: SqliteConnection,
    did: string,
    current: Ed25519PublicJwk,
    next: Ed25519PublicJwk,
    at: Date,
    event?: AuditEvent,
  ): boolean {
    const result = c.stmt(
      "UPDATE agents SET public_jwk = ?, key_rotated_at = ? WHERE did = ? AND public_jwk = ? AND status = 'active'",
    ).run(JSON.stringify(next), ms(at), did, JSON.stringify(current));
    if (Number(result.changes) !== 1) return false;
    if (event) appendAuditRow(c, event);
    return true;
  },

  setAgentScopes(
    c: SqliteConnection,
    did: string,
    scopes: readonly string[],
    at: Date,
    event?: AuditEvent,
    attesters?: readonly string[],
  ): void {
    if (attesters === undefined) {
      c.stmt(
        "INSERT INTO grants (did, scopes, updated_at) VALUES (?, ?, ?) ON CONFLICT (did) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
      ).run(did, JSON.stringify(scopes), ms(at));
    } else {
      c.stmt(
        "INSERT INTO grants (did, scopes, attesters, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (did) DO UPDATE SET scopes = excluded.scopes, attesters = excluded.attesters, updated_at = excluded.updated_at",
      ).run(did, JSON.stringify(scopes), attestersColumn(attesters), ms(at));
    }
    if (event) appendAuditRow(c, event);
  },

  createChallenge(c: SqliteConnection, challenge: ChallengeRecord): void {
    c.insert(
      "INSERT INTO challenges (nonce, kind, subject, expires_at) VALUES (?, ?, ?, ?)",
      challenge.nonce,
      challenge.kind,
      challenge.subject,
      ms(challenge.expiresAt),
    );
  },

  consumeChallenge,

  consumeSingleUse,

  /**
   * In the batch's write transaction (BEGIN IMMEDIATE): no other write, of
   * this connection or another, comes between the count and the insert, so
   * concurrent adds never take an agent past MAX_WORKLOAD_IDENTITIES.
   */
  addWorkloadIdentity(
    c: SqliteConnection,
    identity: WorkloadIdentityRecord,
    event?: AuditEvent,
  ): "added" | "exists" | "full" {
    const { agentDid, issuer, subject } = identity;
    if (!c.stmt("SELECT 1 FROM agents WHERE did = ?").get(agentDid)) {
      throw new Error(`no agent ${agentDid} to bind a workload identity to`);
    }
    const held = c.stmt(
      "SELECT count(*) AS held, count(*) FILTER (WHERE issuer = ? AND subject = ?) AS same FROM workload_identities WHERE agent_did = ?",
    ).get(issuer, subject, agentDid) as { held: number; same: number };
    if (Number(held.same) > 0) return "exists";
    if (Number(held.held) >= MAX_WORKLOAD_IDENTITIES) return "full";
    c.stmt(
      "INSERT INTO workload_identities (agent_did, issuer, subject, audience, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(
      agentDid,
      issuer,
      subject,
      identity.audience ?? null,
      ms(identity.createdAt),
      identity.createdBy,
    );
    if (event) appendAuditRow(c, event);
    return "added";
  },

  removeWorkloadIdentity(
    c: SqliteConnection,
    agentDid: string,
    issuer: string,
    subject: string,
    event?: AuditEvent,
  ): boolean {
    const removed = c.stmt(
      "DELETE FROM workload_identities WHERE agent_did = ? AND issuer = ? AND subject = ?",
    ).run(agentDid, issuer, subject);
    if (Number(removed.changes) !== 1) return false;
    if (event) appendAuditRow(c, event);
    return true;
  },

  recordToken: insertToken,

  recordFederatedIssuance(
    c: SqliteConnection,
    token: TokenRecord,
    event: AuditEvent,
    traded: TradedToken,
  ): "recorded" | "registered" {
    if (c.stmt("SELECT 1 FROM agents WHERE did = ?").get(token.clientId)) {
      return "registered";
    }
    insertToken(c, token);
    c.stmt(
      "INSERT INTO federated_tokens (jti, peer, peer_status, expires_at) VALUES (?, ?, ?, ?)",
    ).run(
      token.jti,
      traded.peer,
      JSON.stringify(traded.status),
      ms(token.expiresAt),
    );
    appendAuditRow(c, event);
    return "recorded";
  },

  recordIssuance(
    c: SqliteConnection,
    token: TokenRecord,
    event: AuditEvent,
    singleUse: SingleUse,
    agentKey: Ed25519PublicJwk,
    attestedBy?: string,
  ): IssuanceOutcome {
    // Inside the batch's write transaction: a suspension, a rotation, the
    // parent's revocation, the workload's unbinding or a grant's change (a
    // scope taken away, an attestation asked for) either committed before
    // (seen here) or commits after (and, but for a rotation, an unbinding
    // or a grant change, revokes this token).
    const agent = c.stmt(ISSUING_AGENT).get(token.clientId) as
      | {
        status: AgentStatus;
        public_jwk: string;
        scopes: unknown;
        attesters: unknown;
      }
      | undefined;
    if (!agent) throw new Error(`no agent ${token.clientId} to issue for`);
    if (agent.status !== "active") return agent.status;
    if (agent.public_jwk !== JSON.stringify(agentKey)) return "rotated";
    const refused = grantRefusal(agent, token.scope, attestedBy) ??
      // Delegated tokens only: the subject's grant has its say too.
      (token.subject === undefined
        ? undefined
        : grantRefusal(grantOf(c, token.subject), token.scope, attestedBy));
    if (refused) return refused;
    // Delegated tokens only: an ordinary issuance runs no statement more.
    if (token.parentJti !== undefined && !parentUnrevoked(c, token.parentJti)) {
      return "parent_revoked";
    }
    if ("workload" in singleUse) {
      // Workloads only: reused by design, nothing is consumed, but a removal
      // committed before this batch (or earlier in it) unbinds it.
      if (!workloadBound(c, token.clientId, singleUse.workload)) {
        return "unbound";
      }
    } else if (!consumeSingleUse(c, singleUse)) return "replayed";
    insertToken(c, token);
    appendAuditRow(c, event);
    return "recorded";
  },

  revokeToken(
    c: SqliteConnection,
    jti: string,
    change: StatusChange,
    event?: AuditEvent,
  ): boolean {
    const row = c.stmt("SELECT revoked_at FROM tokens WHERE jti = ?").get(
      jti,
    ) as { revoked_at: number | null } | undefined;
    if (!row) return false;
    // Revoked before (the first revocation is kept): its tree went with it,
    // and no child is recorded under a revoked token, so there is nothing to
    // walk — a revocation repeated in a loop costs one read, not the tree.
    if (row.revoked_at !== null) return true;
    const result = c.stmt(REVOKE_TOKEN).run(
      jti,
      ms(change.at),
      change.by,
      change.reason ?? null,
    );
    if (event) appendAuditRow(c, event);
    return Number(result.changes) > 0;
  },

  changeAgentStatus(
    c: SqliteConnection,
    did: string,
    status: AgentStatus,
    change: StatusChange,
    event?: AuditEvent,
  ): number | undefined {
    const changed = c.stmt(
      "UPDATE agents SET status = ?, status_changed_at = ?, status_changed_by = ?, status_reason = ? WHERE did = ? AND status <> 'revoked'",
    ).run(status, ms(change.at), change.by, change.reason ?? null, did);
    if (Number(changed.changes) === 0) return undefined;
    if (event) appendAuditRow(c, event);
    if (status === "active") return 0;
    const revoked = c.stmt(REVOKE_AGENT_TOKENS).run(
      did,
      did,
      liveSince(change.at),
      ms(change.at),
      change.by,
      `agent ${status}`,
    );
    return Number(revoked.changes);
  },

  /**
   * One statement in the batch's write transaction (BEGIN IMMEDIATE): no
   * other connection to the file moves the counter in between.
   */
  reserveStatusIndexes(c: SqliteConnection, count: number): number {
    const row = c.stmt(
      "UPDATE status_index SET next = next + ? RETURNING next - ? AS first",
    ).get(count, count) as Row | undefined;
    if (!row) throw new Error("the status_index counter row is missing");
    return Number(row.first);
  },

  addSigningKey(
    c: SqliteConnection,
    key: SigningKeyRecord,
    options: { retireOthersAt?: Date; withdrawOthers?: boolean } = {},
  ): void {
    if (options.retireOthersAt) {
      const at = ms(options.retireOthersAt);
      c.stmt(
        "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL OR retired_at > ?",
      ).run(at, at);
    }
    if (options.withdrawOthers) {
      c.stmt("UPDATE signing_keys SET token_ttl = 0").run();
    }
    c.insert(
      "INSERT INTO signing_keys (kid, private_pem, public_jwk, created_at, active_from, retired_at, token_ttl) VALUES (?, ?, ?, ?, ?, ?, ?)",
      key.kid,
      key.privatePem,
      JSON.stringify(key.publicJwk),
      ms(key.createdAt),
      key.activeFrom ? ms(key.activeFrom) : null,
      key.retiredAt ? ms(key.retiredAt) : null,
      key.tokenTtl ?? null,
    );
  },

  raiseSigningKeyTokenTtl(
    c: SqliteConnection,
    kid: string,
    seconds: number,
  ): void {
    c.stmt(
      "UPDATE signing_keys SET token_ttl = ? WHERE kid = ? AND token_ttl < ?",
    ).run(seconds, kid, seconds);
  },

  replaceSigningKeyMaterial(
    c: SqliteConnection,
    kid: string,
    privatePem: string,
  ): void {
    c.stmt("UPDATE signing_keys SET private_pem = ? WHERE kid = ?").run(
      privatePem,
      kid,
    );
  },

  appendAudit: appendAuditRow,

  /** Deletes at most `limit` expired challenges, replay entries and traded-token records (the store repeats it). */
  sweep(c: SqliteConnection, now: Date, limit: number): number {
    const challenges = Number(
      c.stmt(
        "DELETE FROM challenges WHERE rowid IN (SELECT rowid FROM challenges WHERE expires_at <= ? LIMIT ?)",
      ).run(ms(now), limit).changes,
    );
    // Forgotten at once (by every server at its next use), deleted chunk by chunk.
    c.replay.forgetExpired(c, now);
    if (challenges >= limit) return challenges;
    const replay = Number(
      c.stmt(
        "DELETE FROM replay_log WHERE seq IN (SELECT seq FROM replay_log WHERE expires_at <= ? LIMIT ?)",
      ).run(ms(now), limit - challenges).changes,
    );
    if (challenges + replay >= limit) return challenges + replay;
    const federated = Number(
      c.stmt(
        "DELETE FROM federated_tokens WHERE jti IN (SELECT jti FROM federated_tokens WHERE expires_at <= ? LIMIT ?)",
      ).run(ms(now), limit - challenges - replay).changes,
    );
    return challenges + replay + federated;
  },
};

export type WriteName = keyof typeof WRITES;
// deno-lint-ignore no-explicit-any
type Tail<F> = F extends (c: SqliteConnection, ...args: infer A) => any ? A
  : never;
export type WriteArgs<K extends WriteName> = Tail<typeof WRITES[K]>;
export type WriteResult<K extends WriteName> = ReturnType<typeof WRITES[K]>;
