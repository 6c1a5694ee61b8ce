/**
 * The shared store: PostgreSQL through npm `postgres`, so several `serve`
 * instances can share one state. Every write is one autocommit statement or
 * one transaction, and its promise resolves only after PostgreSQL answered the
 * COMMIT (with the server's default `synchronous_commit = on`, on disk).
 *
 * What SQLite gets from its single writer, PostgreSQL gets from row locks and
 * advisory locks: single-use operations are one statement that changes at
 * most one row (`DELETE … RETURNING`, `INSERT … ON CONFLICT DO NOTHING`,
 * `UPDATE … WHERE public_jwk = current`); audit appends and domain
 * verification take a transaction-scoped advisory lock, so they stay linear
 * across processes. Migrations run under an advisory lock too, so instances
 * starting at once do not race. Advisory locks are keyed by the current
 * schema, so several databases-in-a-schema (tests) do not wait on each other.
 */
import postgres from "postgres";
import { Auth4AgentError } from "../core/errors.ts";
import type { Ed25519PublicJwk } from "../core/keys.ts";
import { auditHash, GENESIS_HASH } from "./audit_chain.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import {
  AGENT_STANDING_SELECT,
  agentFromRow,
  attestersColumn,
  auditEntryFromRow,
  challengeFromRow,
  federatedTokenFromRow,
  grantFromRow,
  grantRefusal,
  liveSince,
  ms,
  operatorFromRow,
  signingKeyFromRow,
  standingFromRow,
  tokenFromRow,
  workloadIdentityFromRow,
} from "./rows.ts";
import {
  type AgentRecord,
  type AgentStanding,
  type AgentStatus,
  type AuditEntry,
  type AuditEvent,
  type ChallengeRecord,
  checkStatusReservation,
  DuplicateError,
  type FederatedTokenRecord,
  type GrantRecord,
  type IssuanceOutcome,
  MAX_REVOCATIONS,
  MAX_WORKLOAD_IDENTITIES,
  type NonceKind,
  type OperatorRecord,
  type SigningKeyRecord,
  type SingleUse,
  type StatusChange,
  type Store,
  type TokenRecord,
  type TradedToken,
  type WorkloadIdentityRecord,
} from "./store.ts";

type Sql = postgres.Sql;

/**
 * Every transaction's isolation, whatever the server's or the URL's default:
 * statements must read what committed before each of them (the audit chain's
 * head after its lock, a verification after the domain's lock).
 */
const READ_COMMITTED = "isolation level read committed";

/** How long a statement waits for a lock, and how long it may run, in ms. */
const LOCK_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 30_000;
/** Expired rows of each table deleted per sweep statement. */
const SWEEP_CHUNK = 1_000;

/** First keys of the two-key advisory locks (arbitrary, fixed forever). */
const LOCK = {
  migrate: 0x0a4a_0001,
  audit: 0x0a4a_0002,
  verifyDomain: 0x0a4a_0003,
  revokeTrees: 0x0a4a_0004,
} as const;

/** PostgreSQL's SQLSTATE for a unique or primary key violation. */
const UNIQUE_VIOLATION = "23505";

type Tx = postgres.TransactionSql | Sql;

async function consumeChallengeIn(
  tx: Tx,
  nonce: string,
  kind: NonceKind,
  subject: string,
  now: Date,
): Promise<ChallengeRecord | undefined> {
  // One statement: concurrent deletes of one row wait for each other and
  // only the first returns it; an expired row is never returned.
  const nowMs = ms(now);
  const [row] = await tx`
    DELETE FROM challenges
    WHERE nonce = ${nonce} AND kind = ${kind} AND subject = ${subject}
      AND expires_at > ${nowMs}
    RETURNING nonce, kind, subject, expires_at`;
  return row && challengeFromRow(row);
}

/** One statement that changes at most one row: the changed-row count decides. */
async function consumeSingleUseIn(
  tx: Tx,
  singleUse: SingleUse,
): Promise<boolean> {
  if ("challenge" in singleUse) {
    const { challenge, subject, now } = singleUse;
    return await consumeChallengeIn(
      tx,
      challenge,
      "token_challenge",
      subject,
      now,
    ) !== undefined;
  }
  if ("workload" in singleUse) {
    // Nothing to consume, and no agent to check the binding against.
    throw new Error(
      "a workload identity is not consumed: pass it to recordIssuance, which checks its binding",
    );
  }
  const { clientId, jti } = singleUse;
  const expiresAtMs = ms(singleUse.expiresAt);
  const result = await tx`
    INSERT INTO replay (client_id, jti, expires_at)
    VALUES (${clientId}, ${jti}, ${expiresAtMs})
    ON CONFLICT DO NOTHING`;
  return result.count === 1;
}

/**
 * The workload identity is bound to the agent. FOR SHARE waits for a
 * removal in flight (and then finds no row), and makes the next one wait
 * for this commit: no token is recorded after its binding's removal.
 */
async function workloadBoundIn(
  tx: Tx,
  agentDid: string,
  workload: { issuer: string; subject: string },
): Promise<boolean> {
  const [row] = await tx`
    SELECT 1 FROM workload_identities
    WHERE agent_did = ${agentDid} AND issuer = ${workload.issuer}
      AND subject = ${workload.subject}
    FOR SHARE`;
  return row !== undefined;
}

async function insertTokenIn(tx: Tx, token: TokenRecord): Promise<void> {
  const { jti, clientId, domain, audience, scope } = token;
  const issuedAt = ms(token.issuedAt);
  const expiresAt = ms(token.expiresAt);
  const revokedAt = token.revokedAt ? ms(token.revokedAt) : null;
  const subject = token.subject ?? null;
  const parentJti = token.parentJti ?? null;
  const statusIdx = token.statusIdx ?? null;
  await tx`
    INSERT INTO tokens
      (jti, client_id, domain, audience, scope, issued_at, expires_at, revoked_at,
       subject, parent_jti, status_idx)
    VALUES (${jti}, ${clientId}, ${domain}, ${audience}, ${scope},
            ${issuedAt}, ${expiresAt}, ${revokedAt}, ${subject}, ${parentJti},
            ${statusIdx})`;
}

/**
 * The token a delegated one is exchanged for is recorded and not revoked.
 * FOR SHARE waits for a revocation in flight (and then reads the revoked
 * row), and makes the next one wait for this commit (revokeTreesIn).
 */
async function parentUnrevokedIn(tx: Tx, parentJti: string): Promise<boolean> {
  const [row] = await tx`
    SELECT 1 FROM tokens WHERE jti = ${parentJti} AND revoked_at IS NULL
    FOR SHARE`;
  return row !== undefined;
}

/**
 * Revokes the tokens `roots` selects and every token delegated from them
 * (their children, theirs, …, through tokens_parent), each unless revoked
 * before (the first revocation is kept); returns how many. The walk goes
 * through revoked tokens too, and is repeated until a pass revokes none: an
 * issuance holding a parent FOR SHARE (parentUnrevokedIn) makes the UPDATE
 * wait for its commit, and the child it committed is only in the next
 * statement's snapshot (READ COMMITTED). Under an advisory lock, so that two
 * revocations of overlapping trees do not deadlock on their rows.
 */
async function revokeTreesIn(
  tx: postgres.TransactionSql,
  roots: postgres.Fragment,
  change: StatusChange,
  reason: string | null,
): Promise<number> {
  const at = ms(change.at);
  await tx`SELECT pg_advisory_xact_lock(${LOCK.revokeTrees}::int, hashtext(current_schema()))`;
  let total = 0;
  for (;;) {
    const revoked = await tx`
      WITH RECURSIVE tree (jti) AS (
        ${roots}
        UNION
        SELECT t.jti FROM tokens t JOIN tree ON t.parent_jti = tree.jti)
      UPDATE tokens SET revoked_at = ${at}, revoked_by = ${change.by},
                        revoke_reason = ${reason}
      WHERE jti IN (SELECT jti FROM tree) AND revoked_at IS NULL`;
    if (revoked.count === 0) return total;
    total += revoked.count;
  }
}

/**
 * The chain is linear only if appends are serialized across every instance:
 * the lock is held until COMMIT, and the SELECT after it sees the entry the
 * previous holder committed. (seq is the primary key, so a fork could not be
 * stored even if the lock were bypassed.)
 */
async function appendAuditIn(
  tx: postgres.TransactionSql,
  event: AuditEvent,
): Promise<void> {
  const { actor, action, target, outcome } = event;
  const at = ms(event.at);
  const reason = event.reason ?? null;
  await tx`SELECT pg_advisory_xact_lock(${LOCK.audit}::int, hashtext(current_schema()))`;
  const [last] = await tx`
    SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`;
  const seq = last ? Number(last.seq) + 1 : 1;
  const prevHash = last ? String(last.hash) : GENESIS_HASH;
  const hash = auditHash(prevHash, event, seq);
  await tx`
    INSERT INTO audit
      (seq, at, actor, action, target, outcome, reason, prev_hash, hash)
    VALUES (${seq}, ${at}, ${actor}, ${action}, ${target},
            ${outcome}, ${reason}, ${prevHash}, ${hash})`;
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof postgres.PostgresError &&
    error.code === UNIQUE_VIOLATION;
}

/**
 * Runs an insert; a unique or primary key violation becomes DuplicateError —
 * of the record inserted, not of the audit entry a transaction appends with it
 * (that would be a broken chain, not an existing record).
 */
async function insert<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (
      isUniqueViolation(error) &&
      (error as postgres.PostgresError).table_name !== "audit"
    ) {
      throw new DuplicateError(
        (error as postgres.PostgresError).detail ?? String(error),
      );
    }
    throw error;
  }
}

/**
 * The URL as it may be logged: the password (and a `password` query
 * parameter) masked. A URL that does not parse loses its whole user part.
 */
export function redactPostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Up to the last "@": an unencoded "/", "#" or "@" may be in the password.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, "$1***@");
  }
  if (parsed.password) parsed.password = "***";
  for (const name of [...parsed.searchParams.keys()]) {
    if (/^pass(word)?$/i.test(name)) parsed.searchParams.set(name, "***");
  }
  return parsed.toString();
}

/**
 * Brings the schema to SCHEMA_VERSION, one migration per transaction, each
 * under an advisory lock and re-reading the version inside it: of two
 * instances starting at once, one migrates and the other finds it done.
 */
async function migrate(sql: Sql): Promise<void> {
  for (;;) {
    const done = await sql.begin(READ_COMMITTED, async (tx) => {
      const [where] = await tx`SELECT current_schema() AS schema`;
      if (where?.schema === null) {
        throw new Auth4AgentError(
          "ERR_CONFIG",
          "no schema of the search_path exists in the PostgreSQL database: create it or fix search_path",
        );
      }
      await tx`SELECT pg_advisory_xact_lock(${LOCK.migrate}::int, hashtext(current_schema()))`;
      await tx`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`;
      const rows = await tx`SELECT version FROM schema_version`;
      const current = rows.length > 0 ? Number(rows[0]!.version) : 0;
      if (current > SCHEMA_VERSION) {
        throw new Auth4AgentError(
          "ERR_CONFIG",
          `database schema version ${current} is newer than this auth4agent (${SCHEMA_VERSION}); upgrade auth4agent`,
        );
      }
      if (current === SCHEMA_VERSION) return true;
      const next = current + 1;
      // Simple query protocol: a migration may hold several statements.
      await tx.unsafe(MIGRATIONS[next - 1]!);
      await tx`DELETE FROM schema_version`;
      await tx`INSERT INTO schema_version (version) VALUES (${next})`;
      return false;
    });
    if (done) return;
  }
}

/**
 * The live, unrevoked federated tokens: each live row's token by its key
 * (LATERAL … OFFSET 0), a join the planner would otherwise make by scanning
 * every token ever issued. Exported for the test of its plan.
 */
export const LIVE_FEDERATED_TOKENS = `
  SELECT f.jti, t.domain, f.peer, f.peer_status FROM federated_tokens f
  CROSS JOIN LATERAL (
    SELECT domain, revoked_at FROM tokens WHERE jti = f.jti OFFSET 0
  ) t
  WHERE f.expires_at > $1 AND t.revoked_at IS NULL`;

export class PostgresStore implements Store {
  readonly #sql: Sql;

  private constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Connects, migrates and returns the store (a pool of npm `postgres`'s
   * default 10 connections). `url` is `postgres://user:password@host:port/db`;
   * `sslmode` is honoured, and query parameters that are not options of npm
   * `postgres` (e.g. `search_path`) are sent to the server as settings.
   */
  static async open(url: string): Promise<PostgresStore> {
    let sql: Sql | undefined;
    try {
      sql = postgres(url, {
        // "relation already exists, skipping" and the like are not news.
        onnotice: () => {},
        // We use no array or custom types: skip the per-connection type query.
        fetch_types: false,
        connection: {
          application_name: "auth4agent",
          // A stalled holder of a lock (the audit chain's, a row's) fails
          // the requests waiting on it instead of taking the whole pool.
          lock_timeout: LOCK_TIMEOUT_MS,
          statement_timeout: STATEMENT_TIMEOUT_MS,
          idle_in_transaction_session_timeout: STATEMENT_TIMEOUT_MS,
        },
      });
      await migrate(sql);
    } catch (error) {
      await sql?.end({ timeout: 1 });
      if (error instanceof Auth4AgentError) throw error;
      // The driver's message may quote the URL, password and all.
      const message = (error instanceof Error ? error.message : String(error))
        .replaceAll(url, redactPostgresUrl(url));
      throw new Auth4AgentError(
        "ERR_CONFIG",
        `cannot open the PostgreSQL database ${
          redactPostgresUrl(url)
        }: ${message}`,
      );
    }
    return new PostgresStore(sql);
  }

  /**
   * Runs `write` in a transaction that also appends `event` to the audit log
   * when `tookEffect` says the write did something.
   */
  #audited<T>(
    event: AuditEvent | undefined,
    write: (tx: postgres.TransactionSql) => Promise<T>,
    tookEffect: (result: T) => boolean = () => true,
  ): Promise<T> {
    return this.#sql.begin(READ_COMMITTED, async (tx) => {
      const result = await write(tx);
      if (event && tookEffect(result)) await appendAuditIn(tx, event);
      return result;
    }) as Promise<T>;
  }

  async createOperator(op: OperatorRecord, event?: AuditEvent): Promise<void> {
    const jwk = JSON.stringify(op.publicJwk);
    const createdAt = ms(op.createdAt);
    const verifiedAt = op.verifiedAt ? ms(op.verifiedAt) : null;
    await insert(() =>
      this.#audited(event, async (tx) => {
        await tx`
          INSERT INTO operators
            (id, domain, public_jwk, thumbprint, dns_challenge, created_at, verified_at)
          VALUES (${op.id}, ${op.domain}, ${jwk}, ${op.thumbprint},
                  ${op.dnsChallenge}, ${createdAt}, ${verifiedAt})`;
      })
    );
  }

  async getOperator(id: string): Promise<OperatorRecord | undefined> {
    const [row] = await this.#sql`SELECT * FROM operators WHERE id = ${id}`;
    return row && operatorFromRow(row);
  }

  markOperatorVerified(
    id: string,
    at: Date,
    event?: AuditEvent,
  ): Promise<boolean> {
    // Two operators of one domain verifying at once must not both win: the
    // check and the update run under a lock on the domain, and the UPDATE's
    // fresh snapshot (READ COMMITTED) sees any verification committed before.
    const verify = this.#audited(event, async (tx) => {
      const [operator] = await tx`
        SELECT domain, verified_at FROM operators WHERE id = ${id}`;
      // As in SQLite: nothing to mark, and no other operator holds the domain.
      if (!operator) return { marked: true, newly: false };
      await tx`SELECT pg_advisory_xact_lock(${LOCK.verifyDomain}::int,
                 hashtext(current_schema() || ' ' || ${operator.domain}))`;
      const verifiedAt = ms(at);
      const marked = await tx`
        UPDATE operators SET verified_at = COALESCE(verified_at, ${verifiedAt})
        WHERE id = ${id} AND NOT EXISTS (
          SELECT 1 FROM operators other
          WHERE other.domain = ${operator.domain} AND other.id <> ${id}
            AND other.verified_at IS NOT NULL)`;
      // Verified before: true again, but nothing changed to audit.
      return {
        marked: marked.count === 1,
        newly: marked.count === 1 && operator.verified_at === null,
      };
    }, (result) => result.newly);
    return verify.then((result) => result.marked);
  }

  async createAgent(agent: AgentRecord, event?: AuditEvent): Promise<void> {
    const jwk = JSON.stringify(agent.publicJwk);
    const createdAt = ms(agent.createdAt);
    await insert(() =>
      this.#audited(event, async (tx) => {
        await tx`
          INSERT INTO agents (did, domain, operator_id, public_jwk, created_at, status)
          VALUES (${agent.did}, ${agent.domain}, ${agent.operatorId}, ${jwk},
                  ${createdAt}, ${agent.status})`;
      })
    );
  }

  async getAgent(did: string): Promise<AgentRecord | undefined> {
    const [row] = await this.#sql`SELECT * FROM agents WHERE did = ${did}`;
    return row && agentFromRow(row);
  }

  async getAgentStanding(did: string): Promise<AgentStanding | undefined> {
    const [row] = await this.#sql.unsafe(
      `${AGENT_STANDING_SELECT} WHERE a.did = $1`,
      [did],
    );
    return row && standingFromRow(row);
  }

  async rotateAgentKey(
    did: string,
    current: Ed25519PublicJwk,
    next: Ed25519PublicJwk,
    at: Date,
    event?: AuditEvent,
  ): Promise<boolean> {
    // Compare-and-set in one statement: a concurrent rotation (or suspension)
    // that committed first changed the row, so this UPDATE re-checks and
    // changes nothing.
    const currentJwk = JSON.stringify(current);
    const nextJwk = JSON.stringify(next);
    const rotatedAt = ms(at);
    return await this.#audited(event, async (tx) => {
      const result = await tx`
        UPDATE agents SET public_jwk = ${nextJwk}, key_rotated_at = ${rotatedAt}
        WHERE did = ${did} AND public_jwk = ${currentJwk} AND status = 'active'`;
      return result.count === 1;
    }, (rotated) => rotated);
  }

  async setAgentScopes(
    did: string,
    scopes: readonly string[],
    at: Date,
    event?: AuditEvent,
    attesters?: readonly string[],
  ): Promise<void> {
    const scopesJson = JSON.stringify(scopes);
    const attestersJson = attestersColumn(attesters);
    const updatedAt = ms(at);
    await this.#audited(event, async (tx) => {
      if (attesters === undefined) {
        await tx`
          INSERT INTO grants (did, scopes, updated_at)
          VALUES (${did}, ${scopesJson}, ${updatedAt})
          ON CONFLICT (did) DO UPDATE
            SET scopes = excluded.scopes, updated_at = excluded.updated_at`;
        return;
      }
      await tx`
        INSERT INTO grants (did, scopes, attesters, updated_at)
        VALUES (${did}, ${scopesJson}, ${attestersJson}, ${updatedAt})
        ON CONFLICT (did) DO UPDATE
          SET scopes = excluded.scopes, attesters = excluded.attesters,
            updated_at = excluded.updated_at`;
    });
  }

  async getAgentScopes(did: string): Promise<GrantRecord | undefined> {
    const [row] = await this
      .#sql`SELECT scopes, attesters, updated_at FROM grants WHERE did = ${did}`;
    return row && grantFromRow(row);
  }

  async createChallenge(challenge: ChallengeRecord): Promise<void> {
    const { nonce, kind, subject } = challenge;
    const expiresAt = ms(challenge.expiresAt);
    await insert(() =>
      this.#sql`
        INSERT INTO challenges (nonce, kind, subject, expires_at)
        VALUES (${nonce}, ${kind}, ${subject}, ${expiresAt})`
    );
  }

  async consumeChallenge(
    nonce: string,
    kind: NonceKind,
    subject: string,
    now: Date,
  ): Promise<ChallengeRecord | undefined> {
    return await consumeChallengeIn(this.#sql, nonce, kind, subject, now);
  }

  async consumeSingleUse(singleUse: SingleUse): Promise<boolean> {
    return await consumeSingleUseIn(this.#sql, singleUse);
  }

  async recordIssuance(
    token: TokenRecord,
    event: AuditEvent,
    singleUse: SingleUse,
    agentKey: Ed25519PublicJwk,
    attestedBy?: string,
  ): Promise<IssuanceOutcome> {
    return await insert(() =>
      this.#audited(event, async (tx): Promise<IssuanceOutcome> => {
        // FOR SHARE waits for a status change or rotation in flight and makes
        // the next one wait for this commit (a suspension then revokes it).
        const [agent] = await tx`
          SELECT status, public_jwk FROM agents
          WHERE did = ${token.clientId} FOR SHARE`;
        if (!agent) throw new Error(`no agent ${token.clientId} to issue for`);
        const status = agent.status as AgentStatus;
        if (status !== "active") return status;
        if (agent.public_jwk !== JSON.stringify(agentKey)) return "rotated";
        // The grants behind the token, FOR SHARE: a change (a scope taken
        // away, an attestation asked for) commits before (seen here) or
        // waits for this one.
        for (const did of [token.clientId, token.subject]) {
          if (did === undefined) continue;
          const [grant] = await tx`
            SELECT scopes, attesters FROM grants WHERE did = ${did} FOR SHARE`;
          const refused = grantRefusal(
            grant as { scopes: unknown; attesters: unknown } | undefined,
            token.scope,
            attestedBy,
          );
          if (refused) return refused;
        }
        // Delegated tokens only: an ordinary issuance runs no statement more.
        if (
          token.parentJti !== undefined &&
          !await parentUnrevokedIn(tx, token.parentJti)
        ) return "parent_revoked";
        if ("workload" in singleUse) {
          // Workloads only: reused by design, nothing is consumed.
          if (!await workloadBoundIn(tx, token.clientId, singleUse.workload)) {
            return "unbound";
          }
        } else if (!await consumeSingleUseIn(tx, singleUse)) return "replayed";
        await insertTokenIn(tx, token);
        return "recorded";
      }, (outcome) => outcome === "recorded")
    );
  }

  addWorkloadIdentity(
    identity: WorkloadIdentityRecord,
    event?: AuditEvent,
  ): Promise<"added" | "exists" | "full"> {
    const { agentDid, issuer, subject } = identity;
    const audience = identity.audience ?? null;
    const createdAt = ms(identity.createdAt);
    return this.#audited(event, async (tx) => {
      // The agent's row lock serializes its adds: each counts what the one
      // before committed (READ COMMITTED: a fresh snapshot per statement), so
      // two adds at MAX_WORKLOAD_IDENTITIES - 1 cannot both succeed. NO KEY:
      // foreign-key checks on the agent (its grant's, this insert's) do not
      // wait for it.
      const [agent] = await tx`
        SELECT 1 FROM agents WHERE did = ${agentDid} FOR NO KEY UPDATE`;
      if (!agent) {
        throw new Error(`no agent ${agentDid} to bind a workload identity to`);
      }
      const [held] = await tx`
        SELECT count(*) AS held,
               count(*) FILTER (WHERE issuer = ${issuer} AND subject = ${subject})
                 AS same
        FROM workload_identities WHERE agent_did = ${agentDid}`;
      if (Number(held?.same) > 0) return "exists";
      if (Number(held?.held) >= MAX_WORKLOAD_IDENTITIES) return "full";
      await tx`
        INSERT INTO workload_identities
          (agent_did, issuer, subject, audience, created_at, created_by)
        VALUES (${agentDid}, ${issuer}, ${subject}, ${audience}, ${createdAt},
                ${identity.createdBy})`;
      return "added" as const;
    }, (result) => result === "added");
  }

  async listWorkloadIdentities(
    agentDid: string,
  ): Promise<WorkloadIdentityRecord[]> {
    // COLLATE "C": byte order for ties, as SQLite, whatever the database locale.
    const rows = await this.#sql`
      SELECT * FROM workload_identities WHERE agent_did = ${agentDid}
      ORDER BY created_at, issuer COLLATE "C", subject COLLATE "C"`;
    return rows.map(workloadIdentityFromRow);
  }

  removeWorkloadIdentity(
    agentDid: string,
    issuer: string,
    subject: string,
    event?: AuditEvent,
  ): Promise<boolean> {
    // The row lock waits for issuances holding the binding FOR SHARE
    // (workloadBoundIn) to commit; those after it find no binding.
    return this.#audited(event, async (tx) => {
      const removed = await tx`
        DELETE FROM workload_identities
        WHERE agent_did = ${agentDid} AND issuer = ${issuer}
          AND subject = ${subject}`;
      return removed.count === 1;
    }, (removed) => removed);
  }

  async recordToken(token: TokenRecord): Promise<void> {
    await insert(() => insertTokenIn(this.#sql, token));
  }

  async recordFederatedIssuance(
    token: TokenRecord,
    event: AuditEvent,
    traded: TradedToken,
  ): Promise<"recorded" | "registered"> {
    return await insert(() =>
      this.#audited(event, async (tx) => {
        const [agent] = await tx`
          SELECT 1 FROM agents WHERE did = ${token.clientId}`;
        if (agent) return "registered" as const;
        await insertTokenIn(tx, token);
        await tx`
          INSERT INTO federated_tokens (jti, peer, peer_status, expires_at)
          VALUES (${token.jti}, ${traded.peer}, ${
          JSON.stringify(traded.status)
        },
                  ${ms(token.expiresAt)})`;
        return "recorded" as const;
      }, (outcome) => outcome === "recorded")
    );
  }

  async listFederatedTokens(now: Date): Promise<FederatedTokenRecord[]> {
    const rows = await this.#sql.unsafe(LIVE_FEDERATED_TOKENS, [ms(now)]);
    return rows.map(federatedTokenFromRow);
  }

  async getToken(jti: string): Promise<TokenRecord | undefined> {
    const [row] = await this.#sql`SELECT * FROM tokens WHERE jti = ${jti}`;
    return row && tokenFromRow(row);
  }

  async revokeToken(
    jti: string,
    change: StatusChange,
    event?: AuditEvent,
  ): Promise<boolean> {
    // The first revocation is kept; revoking again reports the token exists.
    const reason = change.reason ?? null;
    const result = await this.#audited(event, async (tx) => {
      const [row] = await tx`SELECT revoked_at FROM tokens WHERE jti = ${jti}`;
      if (!row) return { revoked: false, found: false };
      // Revoked before: its tree went with it (revokeTreesIn), and no child
      // is recorded under a revoked token, so a repeated revocation walks
      // nothing and takes no lock.
      if (row.revoked_at !== null) return { revoked: false, found: true };
      const root = tx`SELECT jti FROM tokens WHERE jti = ${jti}`;
      const revoked = await revokeTreesIn(tx, root, change, reason) > 0;
      return { revoked, found: true };
    }, (result) => result.revoked);
    // Revoked before (the first revocation is kept), or unknown.
    return result.found;
  }

  changeAgentStatus(
    did: string,
    status: AgentStatus,
    change: StatusChange,
    event?: AuditEvent,
  ): Promise<number | undefined> {
    const at = ms(change.at);
    const reason = change.reason ?? null;
    const revokeReason = `agent ${status}`;
    return this.#audited(event, async (tx) => {
      // The row lock makes a concurrent revocation commit first or wait;
      // once it has, this changes nothing.
      const changed = await tx`
        UPDATE agents SET status = ${status}, status_changed_at = ${at},
                          status_changed_by = ${change.by}, status_reason = ${reason}
        WHERE did = ${did} AND status <> 'revoked'`;
      if (changed.count === 0) return undefined;
      if (status === "active") return 0;
      // Its live tokens, held or acted for (tokens_client, tokens_subject),
      // up to the verifiers' clock leeway past their exp.
      const roots = tx`
        SELECT jti FROM tokens
        WHERE (client_id = ${did} OR subject = ${did})
          AND expires_at > ${liveSince(change.at)}`;
      return await revokeTreesIn(tx, roots, change, revokeReason);
    }, (revoked) => revoked !== undefined);
  }

  async reserveStatusIndexes(count: number): Promise<number> {
    checkStatusReservation(count);
    // One statement: a concurrent one waits for the row's lock, then adds to
    // the value this one committed — under READ COMMITTED, which re-reads it
    // (REPEATABLE READ, a database's default maybe, would fail it instead).
    const [row] = await this.#sql.begin(READ_COMMITTED, (tx) =>
      tx`
        UPDATE status_index SET next = next + ${count}
        RETURNING next - ${count} AS first`);
    if (!row) throw new Error("the status_index counter row is missing");
    return Number(row.first);
  }

  async listRevokedStatusIndexes(from: number, to: number): Promise<number[]> {
    // The partial index's predicate, spelled out, so the planner may use it.
    const rows = await this.#sql`
      SELECT status_idx FROM tokens
      WHERE revoked_at IS NOT NULL AND status_idx IS NOT NULL
        AND status_idx >= ${from} AND status_idx < ${to}
      ORDER BY status_idx`;
    return rows.map((row) => Number(row.status_idx));
  }

  async listRevocations(
    operator: { id: string; domain: string },
    now: Date,
  ): Promise<{ agents: AgentRecord[]; tokens: TokenRecord[] }> {
    const nowMs = ms(now);
    // NULLS LAST: SQLite's order, where NULL sorts lowest.
    const agents = await this.#sql`
      SELECT * FROM agents WHERE operator_id = ${operator.id} AND status <> 'active'
      ORDER BY status_changed_at DESC NULLS LAST LIMIT ${MAX_REVOCATIONS}`;
    const tokens = await this.#sql`
      SELECT * FROM tokens
      WHERE domain = ${operator.domain} AND revoked_at IS NOT NULL
        AND expires_at > ${nowMs}
      ORDER BY revoked_at DESC LIMIT ${MAX_REVOCATIONS}`;
    return {
      agents: agents.map(agentFromRow),
      tokens: tokens.map(tokenFromRow),
    };
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    // COLLATE "C": byte order for ties, as SQLite, whatever the database locale.
    const rows = await this.#sql`
      SELECT * FROM signing_keys ORDER BY created_at DESC, kid COLLATE "C"`;
    return rows.map(signingKeyFromRow);
  }

  async addSigningKey(
    key: SigningKeyRecord,
    options: { retireOthersAt?: Date; withdrawOthers?: boolean } = {},
  ): Promise<void> {
    const jwk = JSON.stringify(key.publicJwk);
    const createdAt = ms(key.createdAt);
    const activeFrom = key.activeFrom ? ms(key.activeFrom) : null;
    const retiredAt = key.retiredAt ? ms(key.retiredAt) : null;
    const tokenTtl = key.tokenTtl ?? null;
    const retireOthersAt = options.retireOthersAt && ms(options.retireOthersAt);
    await insert(() =>
      this.#sql.begin(READ_COMMITTED, async (tx) => {
        if (retireOthersAt !== undefined) {
          await tx`
            UPDATE signing_keys SET retired_at = ${retireOthersAt}
            WHERE retired_at IS NULL OR retired_at > ${retireOthersAt}`;
        }
        if (options.withdrawOthers) {
          await tx`UPDATE signing_keys SET token_ttl = 0`;
        }
        await tx`
          INSERT INTO signing_keys
            (kid, private_pem, public_jwk, created_at, active_from, retired_at, token_ttl)
          VALUES (${key.kid}, ${key.privatePem}, ${jwk}, ${createdAt},
            ${activeFrom}, ${retiredAt}, ${tokenTtl})`;
      })
    );
  }

  async replaceSigningKeyMaterial(
    kid: string,
    privatePem: string,
  ): Promise<void> {
    await this
      .#sql`UPDATE signing_keys SET private_pem = ${privatePem} WHERE kid = ${kid}`;
  }

  async raiseSigningKeyTokenTtl(kid: string, seconds: number): Promise<void> {
    await this.#sql`
      UPDATE signing_keys SET token_ttl = ${seconds}
      WHERE kid = ${kid} AND token_ttl < ${seconds}`;
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    await this.#sql.begin(READ_COMMITTED, (tx) => appendAuditIn(tx, event));
  }

  async listAudit(
    options: { afterSeq?: number; limit: number },
  ): Promise<AuditEntry[]> {
    const rows = await this.#sql`
      SELECT * FROM audit WHERE seq > ${options.afterSeq ?? 0}
      ORDER BY seq LIMIT ${options.limit}`;
    return rows.map(auditEntryFromRow);
  }

  /**
   * Deletes expired challenges, replay entries and federated tokens' traded
   * tokens in chunks, so that a large
   * backlog (after an outage) never holds a statement past its timeout.
   */
  async sweep(now: Date): Promise<number> {
    const nowMs = ms(now);
    let total = 0;
    for (;;) {
      const [row] = await this.#sql`
        WITH challenges_gone AS (
          DELETE FROM challenges WHERE ctid IN (
            SELECT ctid FROM challenges WHERE expires_at <= ${nowMs}
            LIMIT ${SWEEP_CHUNK})
          RETURNING 1),
        replay_gone AS (
          DELETE FROM replay WHERE ctid IN (
            SELECT ctid FROM replay WHERE expires_at <= ${nowMs}
            LIMIT ${SWEEP_CHUNK})
          RETURNING 1),
        federated_gone AS (
          DELETE FROM federated_tokens WHERE ctid IN (
            SELECT ctid FROM federated_tokens WHERE expires_at <= ${nowMs}
            LIMIT ${SWEEP_CHUNK})
          RETURNING 1)
        SELECT (SELECT count(*) FROM challenges_gone) AS challenges,
               (SELECT count(*) FROM replay_gone) AS replay,
               (SELECT count(*) FROM federated_gone) AS federated`;
      const challenges = Number(row?.challenges ?? 0);
      const replay = Number(row?.replay ?? 0);
      const federated = Number(row?.federated ?? 0);
      total += challenges + replay + federated;
      if (
        challenges < SWEEP_CHUNK && replay < SWEEP_CHUNK &&
        federated < SWEEP_CHUNK
      ) return total;
    }
  }

  async ping(): Promise<void> {
    await this.#sql`SELECT 1`;
  }

  /** A COMMIT returns once it is durable (synchronous_commit = on). */
  durable(): Promise<void> {
    return Promise.resolve();
  }

  /** Waits for queries in flight (up to 5 s), then closes every connection. */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
