/**
 * The issuer's storage, as a small interface in domain verbs. Every method
 * that must be single-use (challenges, nonces, assertion `jti`s) is atomic in
 * the database itself, never a read-then-write. SQLite (sqlite.ts) is the
 * default; every implementation passes tests/store/conformance.ts.
 */
import type { StatusClaim } from "../core/status_list.ts";
import type { Ed25519PublicJwk } from "../core/keys.ts";

export interface OperatorRecord {
  id: string;
  domain: string;
  publicJwk: Ed25519PublicJwk;
  /** RFC 7638 thumbprint of publicJwk; unique across operators. */
  thumbprint: string;
  /** Random value the DNS TXT record binds to the operator's key. */
  dnsChallenge: string;
  createdAt: Date;
  verifiedAt?: Date;
}

export type AgentStatus = "active" | "suspended" | "revoked";

export interface AgentRecord {
  did: string;
  domain: string;
  operatorId: string;
  publicJwk: Ed25519PublicJwk;
  createdAt: Date;
  status: AgentStatus;
  /** The last status change: when, by whom (operator id), why. */
  statusChange?: StatusChange;
}

export interface StatusChange {
  at: Date;
  by: string;
  reason?: string;
}

export interface GrantRecord {
  scopes: string[];
  /**
   * Attesters of which a token request must carry a client attestation
   * (core/client_attestation.ts); absent: none is asked for.
   */
  attesters?: string[];
  updatedAt: Date;
}

/** An agent with its operator and its grant: what a token request checks, read at once. */
export interface AgentStanding {
  agent: AgentRecord;
  operator: OperatorRecord;
  grant?: GrantRecord;
}

export type NonceKind =
  | "token_challenge"
  | "request_nonce"
  | "attestation_challenge";

export interface ChallengeRecord {
  nonce: string;
  kind: NonceKind;
  /** The agent DID a token challenge is bound to; empty for request nonces. */
  subject: string;
  expiresAt: Date;
}

/** The peer's token a federated one was traded for: its issuer and status-list entry. */
export interface TradedToken {
  peer: string;
  status: StatusClaim;
}

export interface FederatedTokenRecord extends TradedToken {
  jti: string;
  /** The agent's domain (the token's). */
  domain: string;
}

export interface TokenRecord {
  jti: string;
  clientId: string;
  domain: string;
  audience: string;
  scope: string;
  issuedAt: Date;
  expiresAt: Date;
  revokedAt?: Date;
  revokedBy?: string;
  revokeReason?: string;
  /**
   * A delegated token's (RFC 8693) subject: the agent it acts for, its JWT's
   * `sub`, while `clientId` is the actor holding it. Absent: the client's own.
   */
  subject?: string;
  /**
   * A delegated token's parent: the `jti` of the token it was exchanged for.
   * Revoking the parent revokes it.
   */
  parentJti?: string;
  /**
   * The token's global status-list index (draft-ietf-oauth-status-list):
   * list `floor(statusIdx / LIST_SIZE)`, bit `statusIdx mod LIST_SIZE`, from
   * a block reserveStatusIndexes handed out. Absent for tokens issued before
   * status lists (or recorded without one).
   */
  statusIdx?: number;
}

export interface SigningKeyRecord {
  kid: string;
  /** PKCS#8 PEM of the private key (kept inside the database). */
  privatePem: string;
  publicJwk: Ed25519PublicJwk;
  createdAt: Date;
  /**
   * When it starts signing; absent: since `createdAt`. A rotated-in key is
   * published before, so that verifiers' cached key sets hold it by then.
   */
  activeFrom?: Date;
  /**
   * When a newer key takes (or took) over signing; published until its
   * tokens expire.
   */
  retiredAt?: Date;
  /**
   * The longest lifetime, in seconds, of a token signed with this key (0:
   * none signed yet), raised by each server before it signs with the key.
   * Absent for keys made before it was recorded: not known.
   */
  tokenTtl?: number;
}

export interface AuditEvent {
  at: Date;
  /** Who acted: an operator id, an agent DID, or `issuer`. */
  actor: string;
  /** What happened, e.g. `operator.register`, `token.issue`, `token.deny`. */
  action: string;
  /** What it was done to (operator id, DID, token jti), or empty. */
  target: string;
  outcome: "success" | "denied";
  /** Machine code or short reason, for denials especially. */
  reason?: string;
}

/** An audit event as stored: its place in the hash chain. */
export interface AuditEntry extends AuditEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * How an issuance ended: recorded, refused as a replay, or refused because
 * the agent changed after its standing was read, while the request was in
 * flight: "rotated" (its key is no longer the one the request was
 * authenticated with), or the status it left `active` for; for a delegated
 * token, "parent_revoked" when the token it was exchanged for is revoked (or
 * unknown); for a workload's token, "unbound" when its workload identity was
 * removed.
 */
export type IssuanceOutcome =
  | "recorded"
  | "replayed"
  | "unbound"
  | "rotated"
  | "parent_revoked"
  /** A grant behind the token now asks for a client attestation this one does not meet. */
  | "attestation_required"
  /** A grant behind the token no longer holds one of its scopes. */
  | "scope_not_granted"
  | Exclude<AgentStatus, "active">;

/**
 * What makes a token request good once: its challenge, or its assertion's
 * `jti` until it expires — or, for a workload's platform token (reused by
 * design until it expires), the binding it matched, which must still exist.
 */
export type SingleUse =
  | { challenge: string; subject: string; now: Date }
  | { jti: string; clientId: string; expiresAt: Date }
  | { workload: { issuer: string; subject: string } };

/**
 * Workload federation: a platform's identity for a workload (the `iss` and
 * `sub` of the JWT its platform gives it: a Kubernetes service account, a CI
 * job, a SPIFFE ID) that the agent's operator lets obtain the agent's tokens.
 */
export interface WorkloadIdentityRecord {
  agentDid: string;
  /** The platform's issuer identifier, exactly; one `serve --workload-issuer` trusts. */
  issuer: string;
  /** The platform token's `sub`, exactly. */
  subject: string;
  /** The `aud` its token must carry; absent: this issuer's identifier. */
  audience?: string;
  createdAt: Date;
  /** The operator id that bound it. */
  createdBy: string;
}

/** The most workload identities one agent holds. */
export const MAX_WORKLOAD_IDENTITIES = 20;

/** The most agents, and tokens, one revocation list holds. */
export const MAX_REVOCATIONS = 1000;

/** The most status indexes one reserveStatusIndexes call reserves. */
export const MAX_STATUS_RESERVATION = 1_000_000;

/** Refuses a reservation count no server should ask for (a programming error). */
export function checkStatusReservation(count: number): void {
  if (
    !Number.isInteger(count) || count < 1 || count > MAX_STATUS_RESERVATION
  ) {
    throw new Error(
      `cannot reserve ${count} status indexes: 1 to ${MAX_STATUS_RESERVATION}`,
    );
  }
}

/**
 * The store. A write that takes an `event` appends it to the audit log in its
 * own transaction when it takes effect (not when it is refused or changes
 * nothing), so no change is ever stored without its audit entry.
 */
export interface Store {
  createOperator(operator: OperatorRecord, event?: AuditEvent): Promise<void>;
  getOperator(id: string): Promise<OperatorRecord | undefined>;
  /** Marks the operator verified unless another operator holds the domain verified; returns false then. */
  markOperatorVerified(
    id: string,
    at: Date,
    event?: AuditEvent,
  ): Promise<boolean>;

  createAgent(agent: AgentRecord, event?: AuditEvent): Promise<void>;
  getAgent(did: string): Promise<AgentRecord | undefined>;
  /** The agent, its operator and its grant in one read (one statement). */
  getAgentStanding(did: string): Promise<AgentStanding | undefined>;
  /**
   * Replaces the agent's key when its current key is still `current`
   * (compare-and-set, so two rotations cannot both win) and the agent is
   * active (a suspension that commits first stops it). False otherwise.
   */
  rotateAgentKey(
    did: string,
    current: Ed25519PublicJwk,
    next: Ed25519PublicJwk,
    at: Date,
    event?: AuditEvent,
  ): Promise<boolean>;
  /**
   * Replaces the agent's grant: its scopes, and the attesters it asks for —
   * left as they are when `attesters` is undefined, none when empty.
   */
  setAgentScopes(
    did: string,
    scopes: readonly string[],
    at: Date,
    event?: AuditEvent,
    attesters?: readonly string[],
  ): Promise<void>;
  getAgentScopes(did: string): Promise<GrantRecord | undefined>;

  createChallenge(challenge: ChallengeRecord): Promise<void>;
  /** Atomically deletes and returns the challenge when it matches and has not expired. */
  consumeChallenge(
    nonce: string,
    kind: NonceKind,
    subject: string,
    now: Date,
  ): Promise<ChallengeRecord | undefined>;
  /** Consumes the challenge, or remembers the jti until it expires; false when already used. */
  consumeSingleUse(singleUse: SingleUse): Promise<boolean>;

  /**
   * Binds a workload identity to its agent: "exists" when the agent has one
   * of this issuer and subject already (unchanged), "full" when it holds
   * MAX_WORKLOAD_IDENTITIES.
   */
  addWorkloadIdentity(
    identity: WorkloadIdentityRecord,
    event?: AuditEvent,
  ): Promise<"added" | "exists" | "full">;
  /** The agent's workload identities, oldest first. */
  listWorkloadIdentities(agentDid: string): Promise<WorkloadIdentityRecord[]>;
  /** Unbinds one; false when there was none. */
  removeWorkloadIdentity(
    agentDid: string,
    issuer: string,
    subject: string,
    event?: AuditEvent,
  ): Promise<boolean>;

  recordToken(token: TokenRecord): Promise<void>;
  /**
   * Issuance in one atomic write: checks that the agent (`token.clientId`) is
   * still active and still holds `agentKey` (the key the request was
   * authenticated with), consumes what makes the request single-use (the
   * challenge, or the assertion's jti until it expires; for a workload, the
   * binding must still exist, "unbound" otherwise), records the token and
   * appends its audit entry. Nothing is written unless it is "recorded":
   * "replayed" when the challenge or jti was already used (or the challenge
   * expired), "rotated" when the key changed, the agent's status when it is
   * no longer active. A delegated token (`token.parentJti`) is recorded only
   * while its parent is recorded and unrevoked ("parent_revoked" otherwise).
   * Serialized with changeAgentStatus, rotateAgentKey and revokeToken, so no
   * token is recorded unrevoked after a suspension or its parent's
   * revocation, nor for an old key after a rotation.
   */
  recordIssuance(
    token: TokenRecord,
    event: AuditEvent,
    singleUse: SingleUse,
    agentKey: Ed25519PublicJwk,
    /** The attester of the request's client attestation, if it carried one. */
    attestedBy?: string,
  ): Promise<IssuanceOutcome>;
  /**
   * Issuance to a federation peer's agent (serve/federation.ts), in one
   * atomic write: records the token and appends its audit entry —
   * "registered", writing nothing, when an agent of `token.clientId` is
   * registered here (it asks with its own key, under its operator here).
   */
  recordFederatedIssuance(
    token: TokenRecord,
    event: AuditEvent,
    traded: TradedToken,
  ): Promise<"recorded" | "registered">;
  /**
   * The live, unrevoked tokens issued to federation peers' agents, with the
   * peer tokens they were traded for: what a peer's later revocation may
   * reach (serve/federation_revocations.ts).
   */
  listFederatedTokens(now: Date): Promise<FederatedTokenRecord[]>;
  getToken(jti: string): Promise<TokenRecord | undefined>;
  /**
   * Revokes the token and, in the same transaction, every token delegated
   * from it (its children, theirs, …). Returns false when no such token exists.
   */
  revokeToken(
    jti: string,
    change: StatusChange,
    event?: AuditEvent,
  ): Promise<boolean>;
  /**
   * Sets the agent's status; leaving `active` also revokes, in the same
   * transaction, every live token the agent holds or is the subject of, and
   * every token delegated from those. Returns how many were revoked —
   * or undefined, changing nothing, when the agent is revoked (or unknown):
   * revocation is final, whatever committed first.
   */
  changeAgentStatus(
    did: string,
    status: AgentStatus,
    change: StatusChange,
    event?: AuditEvent,
  ): Promise<number | undefined>;
  /**
   * Reserves `count` (1 to MAX_STATUS_RESERVATION) consecutive status
   * indexes never handed out before, by any server sharing the database,
   * whatever crashed, and returns the first: one rare write, so a server
   * hands out a block in memory and issuance writes nothing more. Durable
   * before it resolves; indexes reserved and never used stay unused.
   */
  reserveStatusIndexes(count: number): Promise<number>;
  /**
   * The status indexes in [from, to) of every revoked token (expired or
   * not), ascending: the bits set in one status list. Reads revoked tokens
   * only (a partial index), never the unrevoked ones.
   */
  listRevokedStatusIndexes(from: number, to: number): Promise<number[]>;
  /**
   * The operator's suspended and revoked agents and its domain's revoked,
   * unexpired tokens, newest first, at most MAX_REVOCATIONS of each.
   */
  listRevocations(
    operator: { id: string; domain: string },
    now: Date,
  ): Promise<{ agents: AgentRecord[]; tokens: TokenRecord[] }>;

  /** Newest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Adds a key; with `retireOthersAt`, every key not retired by then is
   * retired then, atomically; with `withdrawOthers` too, every other key's
   * tokens stop counting (its `tokenTtl` becomes 0), so once retired it
   * leaves the JWKS at once — after a compromise.
   */
  addSigningKey(
    key: SigningKeyRecord,
    options?: { retireOthersAt?: Date; withdrawOthers?: boolean },
  ): Promise<void>;
  /** Rewrites a key's stored private material (encryption at rest). */
  replaceSigningKeyMaterial(kid: string, privatePem: string): Promise<void>;
  /** Raises a key's `tokenTtl` to at least `seconds`; an unknown one stays unknown. */
  raiseSigningKeyTokenTtl(kid: string, seconds: number): Promise<void>;

  appendAudit(event: AuditEvent): Promise<void>;
  /** Audit entries in order, from `afterSeq` on, at most `limit`. */
  listAudit(
    options: { afterSeq?: number; limit: number },
  ): Promise<AuditEntry[]>;

  /** Deletes expired challenges, replay entries and federated tokens' traded-token records. */
  sweep(now: Date): Promise<number>;
  /** Checks the database answers (health checks). */
  ping(): Promise<void>;
  /**
   * Resolves once every write committed so far is durable. Reads can see a
   * commit before that (SQLite syncs its WAL off the event loop), so the
   * server awaits this before it answers any request.
   */
  durable(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by create methods when the primary or unique key exists. */
export class DuplicateError extends Error {
  override readonly name = "DuplicateError";
}
