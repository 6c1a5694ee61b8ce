/**
 * Schema migrations as ordered SQL, applied in one transaction each; the
 * version lives in the database. A database newer than this code refuses to
 * open rather than be misread. Written in the SQL common to SQLite and
 * PostgreSQL; times are integer milliseconds since the epoch.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    thumbprint TEXT NOT NULL UNIQUE,
    dns_challenge TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    verified_at BIGINT
  );
  CREATE INDEX operators_domain ON operators (domain);
  CREATE TABLE agents (
    did TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    status_changed_at BIGINT,
    status_changed_by TEXT,
    status_reason TEXT,
    key_rotated_at BIGINT
  );
  CREATE INDEX agents_operator ON agents (operator_id);
  CREATE TABLE grants (
    did TEXT PRIMARY KEY REFERENCES agents (did),
    scopes TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE challenges (
    nonce TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX challenges_expiry ON challenges (expires_at);
  CREATE TABLE replay (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
  );
  CREATE INDEX replay_expiry ON replay (expires_at);
  CREATE TABLE tokens (
    jti TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    revoke_reason TEXT
  );
  CREATE INDEX tokens_client ON tokens (client_id);
  CREATE INDEX tokens_revoked ON tokens (domain, revoked_at);
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
  );
  CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  `,
  // 2: the revocation list's index holds revoked tokens only. It held every
  // issued token under revoked_at NULL, an index insert per token that no
  // query reads (each reads revoked_at IS NOT NULL); the database with 1M
  // tokens is 5% smaller.
  `
  DROP INDEX tokens_revoked;
  CREATE INDEX tokens_revoked ON tokens (domain, revoked_at)
    WHERE revoked_at IS NOT NULL;
  `,
  // 3: each signing key records the longest lifetime of the tokens it signed
  // (seconds; raised by every server that signs with it), so a retired key
  // stays published until they expire whatever the servers' --token-ttl is
  // now; NULL for keys from before: not known, the longest a server allows.
  // And when it starts signing: a rotated-in key is published first, so that
  // verifiers' cached key sets hold it by then; NULL: since created_at.
  `
  ALTER TABLE signing_keys ADD COLUMN token_ttl BIGINT;
  ALTER TABLE signing_keys ADD COLUMN active_from BIGINT;
  `,
  // 4: delegated tokens (RFC 8693 token exchange): the agent a token acts
  // for when it is not its holder (client_id), and the token it was
  // exchanged for, so that revoking a token, or suspending an agent, reaches
  // the tokens delegated from it. Both NULL for an ordinary token, and both
  // indexes partial, so ordinary issuance pays no index insert for them.
  `
  ALTER TABLE tokens ADD COLUMN subject TEXT;
  ALTER TABLE tokens ADD COLUMN parent_jti TEXT;
  CREATE INDEX tokens_parent ON tokens (parent_jti)
    WHERE parent_jti IS NOT NULL;
  CREATE INDEX tokens_subject ON tokens (subject)
    WHERE subject IS NOT NULL;
  `,
  // 5: token status lists (draft-ietf-oauth-status-list): each token's
  // global index in them, NULL for tokens from before. Its index holds
  // revoked tokens only, what a list is built from, so ordinary issuance pays
  // no index insert. Servers reserve blocks of indexes from the one-row
  // counter in one rare write and hand them out in memory.
  `
  ALTER TABLE tokens ADD COLUMN status_idx BIGINT;
  CREATE INDEX tokens_revoked_status ON tokens (status_idx)
    WHERE revoked_at IS NOT NULL AND status_idx IS NOT NULL;
  CREATE TABLE status_index (next BIGINT NOT NULL);
  INSERT INTO status_index (next) VALUES (0);
  `,
  // 6: workload federation: the platform identities (a platform JWT's iss
  // and sub) an operator bound to each of its agents, which may trade that
  // JWT for the agent's tokens; at most MAX_WORKLOAD_IDENTITIES per agent.
  // Its primary key serves every query: an agent's list, the binding an
  // issuance checks, a removal. audience NULL: the issuer's identifier.
  `
  CREATE TABLE workload_identities (
    agent_did TEXT NOT NULL REFERENCES agents (did),
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    audience TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (agent_did, issuer, subject)
  );
  `,
  // 7: client attestation: a grant may ask that the agent's token requests
  // carry an attestation by one of these attesters (a JSON array of their
  // issuer identifiers); NULL asks for none.
  `
  ALTER TABLE grants ADD COLUMN attesters TEXT;
  `,
  // 8: the SQLite store's replay cache (replay_log.ts): single uses appended
  // in `seq` order, judged against the store's memory rather than a unique
  // index (a random index page per token); `replay_log_next` is the next
  // `seq`, which only grows, so every server on the file can tell what it
  // has not seen yet, and the time up to which a sweep forgot expired uses,
  // so that none of them takes such a use again. PostgreSQL keeps `replay`, its unique key serving all
  // its servers as it is; these two tables stay empty there.
  `
  CREATE TABLE replay_log (
    seq INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX replay_log_expiry ON replay_log (expires_at);
  CREATE TABLE replay_log_next (
    next BIGINT NOT NULL,
    swept_up_to BIGINT NOT NULL
  );
  INSERT INTO replay_log_next (next, swept_up_to) VALUES (1, 0);
  `,
  // 9: tokens issued to a federation peer's agent, with the traded token's
  // entry in the peer's status list (its JSON status claim), so that a
  // revocation at the peer after the trade is mirrored here
  // (serve/federation_revocations.ts). Swept once expired.
  `
  CREATE TABLE federated_tokens (
    jti TEXT PRIMARY KEY REFERENCES tokens (jti),
    peer TEXT NOT NULL,
    peer_status TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX federated_tokens_expiry ON federated_tokens (expires_at);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * What SQLite alone runs after a migration, in its transaction, by version.
 * 8: the uses in force move from `replay` to the log, and `replay` refuses
 * rows from then on: a server of an earlier version still running on the
 * file would write uses no new server reads (and read none of theirs), so
 * its token requests fail until it is restarted on this version.
 */
export const SQLITE_AFTER_MIGRATION: Readonly<Record<number, string>> = {
  8: `
  INSERT INTO replay_log (seq, client_id, jti, expires_at)
    SELECT row_number() OVER (ORDER BY rowid), client_id, jti, expires_at
    FROM replay;
  UPDATE replay_log_next SET next = (SELECT count(*) FROM replay_log) + 1;
  DELETE FROM replay;
  CREATE TRIGGER replay_retired BEFORE INSERT ON replay
  BEGIN
    SELECT RAISE(ABORT, 'the replay table was retired by schema 8 (replay_log): restart this server on the new version');
  END;
  `,
};
