/**
 * The default store: SQLite through the built-in `node:sqlite`, in WAL mode.
 * A write is on disk before its response is sent: writes are grouped into
 * shared commits (group_commit.ts), and each commit's WAL frames are synced
 * on a thread of their own (wal_sync.ts) so the event loop never waits for
 * the disk; a worker thread checkpoints the WAL (sqlite_checkpointer.ts) so
 * no commit pays for a checkpoint. (A writer thread owning the write
 * connection was tried and measured: no throughput gain with the server on
 * one core, and 17 MB more RSS for its isolate; see bench/README.md.)
 */
import type { Ed25519PublicJwk } from "../core/keys.ts";
import { GroupCommit } from "./group_commit.ts";
import {
  AGENT_STANDING_SELECT,
  agentFromRow,
  auditEntryFromRow,
  federatedTokenFromRow,
  grantFromRow,
  ms,
  operatorFromRow,
  type Row,
  signingKeyFromRow,
  standingFromRow,
  tokenFromRow,
  workloadIdentityFromRow,
} from "./rows.ts";
import { SqliteConnection } from "./sqlite_connection.ts";
import { StandingCache } from "./standing_cache.ts";
import { prepareDatabaseFile } from "./sqlite_file.ts";
import { CommitSync, FileSyncer } from "./wal_sync.ts";
import type {
  AgentRecord,
  AgentStanding,
  AgentStatus,
  AuditEntry,
  AuditEvent,
  ChallengeRecord,
  FederatedTokenRecord,
  GrantRecord,
  IssuanceOutcome,
  NonceKind,
  OperatorRecord,
  SigningKeyRecord,
  SingleUse,
  StatusChange,
  Store,
  TokenRecord,
  TradedToken,
  WorkloadIdentityRecord,
} from "./store.ts";
import { checkStatusReservation, MAX_REVOCATIONS } from "./store.ts";
import { workloadNotConsumable } from "./sqlite_writes.ts";

/** Longest the checkpointer may hold the writer; then it resumes regardless. */
const MAX_HOLD_MS = 1_000;
/** Expired rows deleted per write by sweep(), and the pause after each. */
const SWEEP_CHUNK = 500;
const SWEEP_PAUSE_MS = 20;

/**
 * The revoked tokens' status indexes in [?, ?), in order, through
 * tokens_revoked_status: it holds revoked tokens only, so no other row is
 * read. Exported for the test of its plan.
 */
export const REVOKED_STATUS_INDEXES =
  "SELECT status_idx FROM tokens WHERE revoked_at IS NOT NULL AND status_idx IS NOT NULL AND status_idx >= ? AND status_idx < ? ORDER BY status_idx";

/**
 * An agent's workload identities, oldest first, through the primary key's
 * agent_did prefix. Exported for the test of its plan.
 */
export const LIST_WORKLOAD_IDENTITIES =
  "SELECT * FROM workload_identities WHERE agent_did = ? ORDER BY created_at, issuer, subject";

/**
 * The live, unrevoked federated tokens, through federated_tokens' expiry
 * index (only a peer's agents' tokens are there). Exported for the plan test.
 */
export const LIVE_FEDERATED_TOKENS =
  "SELECT f.jti, t.domain, f.peer, f.peer_status FROM federated_tokens f JOIN tokens t ON t.jti = f.jti WHERE f.expires_at > ? AND t.revoked_at IS NULL";

export class SqliteStore implements Store {
  readonly #c: SqliteConnection;
  readonly #writer: GroupCommit;
  readonly #standings: StandingCache;
  readonly #commits?: CommitSync;
  readonly #walSyncer?: FileSyncer;
  readonly #checkpointer?: Worker;
  #holdTimer?: ReturnType<typeof setTimeout>;
  #checkpointerStopped?: () => void;

  /**
   * `create: false` refuses a missing file (commands that only read);
   * `syncFile` (fdatasync of the WAL) is for tests to replace.
   */
  constructor(
    path: string,
    options: {
      create?: boolean;
      /** A server's store: the replay log is read at once (open.ts). */
      serving?: boolean;
      syncFile?: (path: string) => Promise<void>;
    } = {},
  ) {
    prepareDatabaseFile(path, { create: options.create ?? true });
    this.#c = new SqliteConnection(path);
    this.#c.migrate();
    // A server's: read outside the write lock, before any write waits on
    // it (otherwise the first use reads it, under the lock).
    if (options.serving) this.#c.replay.load(this.#c);
    const walFile = this.#c.walFile();
    if (walFile !== undefined) {
      // COMMIT no longer fsyncs; CommitSync does it off the event loop and
      // holds every answer until then (checkpoints keep syncing: NORMAL
      // syncs the WAL header and the checkpointed database file).
      this.#c.db.exec("PRAGMA synchronous = NORMAL");
      const syncer = new FileSyncer(walFile);
      this.#walSyncer = syncer;
      const syncFile = options.syncFile ?? (() => syncer.sync());
      this.#commits = new CommitSync(() => syncFile(walFile));
    }
    const dataVersion = this.#c.stmt("PRAGMA data_version");
    this.#standings = new StandingCache(
      () => Number((dataVersion.get() as Row).data_version),
    );
    this.#writer = new GroupCommit(
      this.#c,
      this.#commits,
      (names) => this.#standings.committed(names),
    );
    if (path !== ":memory:") {
      this.#checkpointer = new Worker(
        new URL("./sqlite_checkpointer.ts", import.meta.url).href,
        { type: "module" },
      );
      this.#checkpointer.onmessage = (event) => this.#onCheckpointer(event);
      this.#checkpointer.postMessage({ path });
    }
  }

  /** The checkpointer asks for the writer to hold while it copies the WAL's tail (sqlite_checkpointer.ts). */
  #onCheckpointer(event: MessageEvent): void {
    const message = event.data;
    if (message.hold) {
      this.#writer.hold();
      this.#checkpointer!.postMessage({ held: true });
      // Never held for long, whatever happens to the worker.
      this.#holdTimer = setTimeout(() => this.#writer.resume(), MAX_HOLD_MS);
    } else if (message.resume) {
      clearTimeout(this.#holdTimer);
      this.#writer.resume();
    } else if (message.stopped) {
      this.#checkpointerStopped?.();
    }
  }

  // --- writes -------------------------------------------------------------

  createOperator(op: OperatorRecord, event?: AuditEvent): Promise<void> {
    return this.#writer.submit("createOperator", [op, event]);
  }

  markOperatorVerified(
    id: string,
    at: Date,
    event?: AuditEvent,
  ): Promise<boolean> {
    return this.#writer.submit("markOperatorVerified", [id, at, event]);
  }

  createAgent(agent: AgentRecord, event?: AuditEvent): Promise<void> {
    return this.#writer.submit("createAgent", [agent, event]);
  }

  rotateAgentKey(
    did: string,
    current: Ed25519PublicJwk,
    next: Ed25519PublicJwk,
    at: Date,
    event?: AuditEvent,
  ): Promise<boolean> {
    return this.#writer.submit("rotateAgentKey", [
      did,
      current,
      next,
      at,
      event,
    ]);
  }

  setAgentScopes(
    did: string,
    scopes: readonly string[],
    at: Date,
    event?: AuditEvent,
    attesters?: readonly string[],
  ): Promise<void> {
    return this.#writer.submit("setAgentScopes", [
      did,
      scopes,
      at,
      event,
      attesters,
    ]);
  }

  createChallenge(challenge: ChallengeRecord): Promise<void> {
    return this.#writer.submit("createChallenge", [challenge]);
  }

  consumeChallenge(
    nonce: string,
    kind: NonceKind,
    subject: string,
    now: Date,
  ): Promise<ChallengeRecord | undefined> {
    return this.#writer.submit("consumeChallenge", [nonce, kind, subject, now]);
  }

  consumeSingleUse(singleUse: SingleUse): Promise<boolean> {
    // Refused before it joins a batch, whose other writes it would make run
    // again (group_commit.ts).
    if ("workload" in singleUse) return Promise.reject(workloadNotConsumable());
    return this.#writer.submit("consumeSingleUse", [singleUse]);
  }

  addWorkloadIdentity(
    identity: WorkloadIdentityRecord,
    event?: AuditEvent,
  ): Promise<"added" | "exists" | "full"> {
    return this.#writer.submit("addWorkloadIdentity", [identity, event]);
  }

  removeWorkloadIdentity(
    agentDid: string,
    issuer: string,
    subject: string,
    event?: AuditEvent,
  ): Promise<boolean> {
    return this.#writer.submit("removeWorkloadIdentity", [
      agentDid,
      issuer,
      subject,
      event,
    ]);
  }

  recordToken(token: TokenRecord): Promise<void> {
    return this.#writer.submit("recordToken", [token]);
  }

  recordIssuance(
    token: TokenRecord,
    event: AuditEvent,
    singleUse: SingleUse,
    agentKey: Ed25519PublicJwk,
    attestedBy?: string,
  ): Promise<IssuanceOutcome> {
    return this.#writer.submit("recordIssuance", [
      token,
      event,
      singleUse,
      agentKey,
      attestedBy,
    ]);
  }

  recordFederatedIssuance(
    token: TokenRecord,
    event: AuditEvent,
    traded: TradedToken,
  ): Promise<"recorded" | "registered"> {
    return this.#writer.submit("recordFederatedIssuance", [
      token,
      event,
      traded,
    ]);
  }

  listFederatedTokens(now: Date): Promise<FederatedTokenRecord[]> {
    return Promise.resolve(
      this.#all(LIVE_FEDERATED_TOKENS, ms(now)).map(federatedTokenFromRow),
    );
  }

  revokeToken(
    jti: string,
    change: StatusChange,
    event?: AuditEvent,
  ): Promise<boolean> {
    return this.#writer.submit("revokeToken", [jti, change, event]);
  }

  changeAgentStatus(
    did: string,
    status: AgentStatus,
    change: StatusChange,
    event?: AuditEvent,
  ): Promise<number | undefined> {
    return this.#writer.submit("changeAgentStatus", [
      did,
      status,
      change,
      event,
    ]);
  }

  /** A write like the others: committed and durable before it resolves. */
  async reserveStatusIndexes(count: number): Promise<number> {
    checkStatusReservation(count);
    return await this.#writer.submit("reserveStatusIndexes", [count]);
  }

  addSigningKey(
    key: SigningKeyRecord,
    options: { retireOthersAt?: Date; withdrawOthers?: boolean } = {},
  ): Promise<void> {
    return this.#writer.submit("addSigningKey", [key, options]);
  }

  replaceSigningKeyMaterial(kid: string, privatePem: string): Promise<void> {
    return this.#writer.submit("replaceSigningKeyMaterial", [kid, privatePem]);
  }

  raiseSigningKeyTokenTtl(kid: string, seconds: number): Promise<void> {
    return this.#writer.submit("raiseSigningKeyTokenTtl", [kid, seconds]);
  }

  appendAudit(event: AuditEvent): Promise<void> {
    return this.#writer.submit("appendAudit", [event]);
  }

  /**
   * In chunks, each a write of its own between the requests' writes, with a
   * pause after each so the sweep takes a fifth of the core at most: one
   * DELETE of a minute's expired replay entries at 5,000 tokens/s (300,000
   * rows) held the event loop ~1 s. Chunks cost more in all (each rewrites
   * the key's pages it touches: 3.2 s for those rows against 1.0 s at once),
   * but none holds the loop more than ~12 ms.
   */
  async sweep(now: Date): Promise<number> {
    let total = 0;
    while (this.#c.db.isOpen) {
      const swept = await this.#writer.submit("sweep", [now, SWEEP_CHUNK]);
      total += swept;
      if (swept < SWEEP_CHUNK) break;
      await new Promise((resolve) => setTimeout(resolve, SWEEP_PAUSE_MS));
    }
    return total;
  }

  // --- reads --------------------------------------------------------------

  #get(sql: string, ...params: (string | number)[]): Row | undefined {
    return this.#c.stmt(sql).get(...params) as Row | undefined;
  }

  #all(sql: string, ...params: (string | number)[]): Row[] {
    return this.#c.stmt(sql).all(...params) as Row[];
  }

  getOperator(id: string): Promise<OperatorRecord | undefined> {
    const row = this.#get("SELECT * FROM operators WHERE id = ?", id);
    return Promise.resolve(row && operatorFromRow(row));
  }

  getAgent(did: string): Promise<AgentRecord | undefined> {
    const row = this.#get("SELECT * FROM agents WHERE did = ?", did);
    return Promise.resolve(row && agentFromRow(row));
  }

  /** Cached between requests, never staler than the database (standing_cache.ts). */
  getAgentStanding(did: string): Promise<AgentStanding | undefined> {
    return Promise.resolve(this.#standings.get(did, () => {
      const row = this.#get(`${AGENT_STANDING_SELECT} WHERE a.did = ?`, did);
      return row && standingFromRow(row);
    }));
  }

  getAgentScopes(did: string): Promise<GrantRecord | undefined> {
    const row = this.#get(
      "SELECT scopes, attesters, updated_at FROM grants WHERE did = ?",
      did,
    );
    return Promise.resolve(row && grantFromRow(row));
  }

  getToken(jti: string): Promise<TokenRecord | undefined> {
    const row = this.#get("SELECT * FROM tokens WHERE jti = ?", jti);
    return Promise.resolve(row && tokenFromRow(row));
  }

  listWorkloadIdentities(agentDid: string): Promise<WorkloadIdentityRecord[]> {
    const rows = this.#all(LIST_WORKLOAD_IDENTITIES, agentDid);
    return Promise.resolve(rows.map(workloadIdentityFromRow));
  }

  listRevocations(
    operator: { id: string; domain: string },
    now: Date,
  ): Promise<{ agents: AgentRecord[]; tokens: TokenRecord[] }> {
    const agents = this.#all(
      "SELECT * FROM agents WHERE operator_id = ? AND status <> 'active' ORDER BY status_changed_at DESC LIMIT ?",
      operator.id,
      MAX_REVOCATIONS,
    );
    const tokens = this.#all(
      "SELECT * FROM tokens WHERE domain = ? AND revoked_at IS NOT NULL AND expires_at > ? ORDER BY revoked_at DESC LIMIT ?",
      operator.domain,
      ms(now),
      MAX_REVOCATIONS,
    );
    return Promise.resolve({
      agents: agents.map(agentFromRow),
      tokens: tokens.map(tokenFromRow),
    });
  }

  listRevokedStatusIndexes(from: number, to: number): Promise<number[]> {
    const rows = this.#all(REVOKED_STATUS_INDEXES, from, to);
    return Promise.resolve(rows.map((row) => Number(row.status_idx)));
  }

  listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = this.#all(
      "SELECT * FROM signing_keys ORDER BY created_at DESC, kid",
    );
    return Promise.resolve(rows.map(signingKeyFromRow));
  }

  listAudit(
    options: { afterSeq?: number; limit: number },
  ): Promise<AuditEntry[]> {
    const rows = this.#all(
      "SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
      options.afterSeq ?? 0,
      options.limit,
    );
    return Promise.resolve(rows.map(auditEntryFromRow));
  }

  ping(): Promise<void> {
    this.#get("SELECT 1");
    return Promise.resolve();
  }

  durable(): Promise<void> {
    return this.#commits?.durable() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    const checkpointer = this.#checkpointer;
    if (checkpointer && !this.#c.db.isOpen) return;
    if (checkpointer) {
      await new Promise<void>((resolve) => {
        this.#checkpointerStopped = resolve;
        checkpointer.postMessage({ stop: true });
      });
      checkpointer.terminate();
      clearTimeout(this.#holdTimer);
    }
    await this.#writer.close();
    await this.#walSyncer?.close();
    this.#c.close();
  }
}
