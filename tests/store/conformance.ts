/**
 * One conformance suite for every Store implementation (SPIRE's sqltest
 * habit): `storeConformance(name, makeStore)` registers a Deno.test per
 * behaviour, each on a fresh, empty database. sqlite_test.ts runs it on SQLite
 * (memory and file), postgres_test.ts on PostgreSQL.
 *
 * Where a backend can open a second store on the same database
 * (`openAnother`), the concurrency cases spread their calls over two
 * instances, as two `serve` processes would.
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { randomToken } from "../../src/core/encoding.ts";
import type { Ed25519PublicJwk } from "../../src/core/keys.ts";
import { checkChain, GENESIS_HASH } from "../../src/store/audit_chain.ts";
import { SCHEMA_VERSION } from "../../src/store/migrations.ts";
import {
  type AgentRecord,
  type AuditEvent,
  type ChallengeRecord,
  DuplicateError,
  type IssuanceOutcome,
  MAX_WORKLOAD_IDENTITIES,
  type OperatorRecord,
  type SigningKeyRecord,
  type Store,
  type TokenRecord,
  type WorkloadIdentityRecord,
} from "../../src/store/store.ts";

export interface StoreUnderTest {
  /** A store on a fresh, empty (migrated) database. */
  store: Store;
  /** Opens another store on the same database; absent where it cannot be shared (`:memory:`). */
  openAnother?: () => Promise<Store>;
  /** Overwrites the database's recorded schema version with raw SQL. */
  setSchemaVersion?: (version: number) => Promise<void>;
  /** Removes the database; the suite has closed every store by then. */
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Registers every case as ignored (the backend is not available here). */
  ignore?: boolean;
  /** False where a database cannot be opened twice (`:memory:`): the schema cases are left out. */
  reopenable?: boolean;
}

/** Calls made at once in the single-use cases. */
const RACERS = 25;
/** Domains whose operators verify at once. */
const DOMAINS = 4;
/** Audit appends made at once. */
const APPENDS = 50;
/** Status index reservations made at once. */
const RESERVATIONS = 50;

/** Every Store method and the cases that exercise it (a new method must be added here). */
const COVERED: Record<keyof Store, string> = {
  createOperator: "operators",
  getOperator: "operators",
  markOperatorVerified: "operators: verification",
  createAgent: "agents",
  getAgent: "agents",
  getAgentStanding: "agents: standing",
  rotateAgentKey: "agents: key rotation",
  setAgentScopes: "grants",
  getAgentScopes: "grants",
  createChallenge: "challenges",
  consumeChallenge: "challenges",
  recordToken: "tokens",
  recordIssuance: "issuance",
  recordFederatedIssuance: "federated issuance",
  listFederatedTokens: "federated issuance",
  consumeSingleUse: "single use",
  addWorkloadIdentity: "workload identities",
  listWorkloadIdentities: "workload identities",
  removeWorkloadIdentity: "workload identities",
  getToken: "tokens",
  revokeToken: "tokens",
  changeAgentStatus: "agent status",
  reserveStatusIndexes: "status indexes",
  listRevokedStatusIndexes: "status lists",
  listRevocations: "revocation list",
  listSigningKeys: "signing keys",
  addSigningKey: "signing keys",
  replaceSigningKeyMaterial: "signing keys",
  raiseSigningKeyTokenTtl: "signing keys: token lifetime",
  appendAudit: "audit",
  listAudit: "audit",
  sweep: "sweep",
  ping: "ping and close",
  durable: "durable",
  close: "ping and close",
};

// ---------------------------------------------------------------------------
// Records

/** 2026-01-01T00:00:00Z; `at(s)` is `s` seconds later (fractions keep ms). */
const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + Math.round(seconds * 1000));

const id = (prefix: string) => `${prefix}-${randomToken(9)}`;

function jwk(): Ed25519PublicJwk {
  return { kty: "OKP", crv: "Ed25519", x: randomToken(32) };
}

function operator(overrides: Partial<OperatorRecord> = {}): OperatorRecord {
  return {
    id: id("op"),
    domain: "example.com",
    publicJwk: jwk(),
    thumbprint: randomToken(32),
    dnsChallenge: randomToken(16),
    createdAt: at(1.25),
    verifiedAt: undefined,
    ...overrides,
  };
}

function agent(
  operatorRecord: OperatorRecord,
  overrides: Partial<AgentRecord> = {},
): AgentRecord {
  return {
    did: `did:agent:${operatorRecord.domain}:${randomToken(16)}`,
    domain: operatorRecord.domain,
    operatorId: operatorRecord.id,
    publicJwk: jwk(),
    createdAt: at(2.5),
    status: "active",
    statusChange: undefined,
    ...overrides,
  };
}

function token(
  agentRecord: AgentRecord,
  overrides: Partial<TokenRecord> = {},
): TokenRecord {
  return {
    jti: id("jti"),
    clientId: agentRecord.did,
    domain: agentRecord.domain,
    audience: "api.example.com",
    scope: "read:data write:data",
    issuedAt: at(10),
    expiresAt: at(910),
    revokedAt: undefined,
    revokedBy: undefined,
    revokeReason: undefined,
    subject: undefined,
    parentJti: undefined,
    statusIdx: undefined,
    ...overrides,
  };
}

/**
 * A token `holder` holds for `parent`'s subject, exchanged for `parent`
 * (RFC 8693 delegation).
 */
function delegated(
  holder: AgentRecord,
  parent: TokenRecord,
  overrides: Partial<TokenRecord> = {},
): TokenRecord {
  return token(holder, {
    subject: parent.subject ?? parent.clientId,
    parentJti: parent.jti,
    ...overrides,
  });
}

function signingKey(overrides: Partial<SigningKeyRecord> = {}) {
  return {
    kid: randomToken(32),
    privatePem: `-----BEGIN PRIVATE KEY-----\n${
      randomToken(48)
    }\n-----END PRIVATE KEY-----\n`,
    publicJwk: jwk(),
    createdAt: at(0),
    activeFrom: undefined,
    retiredAt: undefined,
    tokenTtl: undefined,
    ...overrides,
  } satisfies SigningKeyRecord;
}

function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    at: at(5.5),
    actor: "issuer",
    action: "token.issue",
    target: id("jti"),
    outcome: "success",
    reason: undefined,
    ...overrides,
  };
}

/**
 * A workload identity bound to the agent by its operator, without an
 * audience (the key absent, as the store returns it) unless overridden.
 */
function workload(
  agentRecord: AgentRecord,
  overrides: Partial<WorkloadIdentityRecord> = {},
): WorkloadIdentityRecord {
  return {
    agentDid: agentRecord.did,
    issuer: "https://token.actions.githubusercontent.com",
    subject: `repo:${id("org")}/app:ref:refs/heads/main`,
    createdAt: at(20),
    createdBy: agentRecord.operatorId,
    ...overrides,
  };
}

/** What a workload's issuance passes as its single use: the binding it matched. */
function byWorkload(identity: WorkloadIdentityRecord) {
  return { workload: { issuer: identity.issuer, subject: identity.subject } };
}

/** A single use by client assertion `jti` (the replay cache). */
function byJti(clientId: string, jti: string, expiresAt = at(300)) {
  return { clientId, jti, expiresAt };
}

/** Stores a token challenge for the agent, valid until at(120); returns its nonce. */
async function tokenChallengeFor(
  store: Store,
  agentRecord: AgentRecord,
): Promise<string> {
  const nonce = randomToken();
  await store.createChallenge({
    nonce,
    kind: "token_challenge",
    subject: agentRecord.did,
    expiresAt: at(120),
  });
  return nonce;
}

/** An operator and one active agent of it, stored. */
export async function world(store: Store, domain = "example.com") {
  const op = operator({ domain });
  await store.createOperator(op);
  const ag = agent(op);
  await store.createAgent(ag);
  return { op, ag };
}

/** An operator and `count` active agents of it, stored. */
async function agents(store: Store, count: number) {
  const { op, ag } = await world(store);
  const all = [ag];
  while (all.length < count) {
    const next = agent(op);
    await store.createAgent(next);
    all.push(next);
  }
  return { op, agents: all };
}

/**
 * On a database upgraded from an older schema, its token `parentJti` reads
 * back without a subject or parent, and a token delegated from it round-trips
 * (the parent is left unrevoked).
 */
export async function assertUpgradedDelegates(
  store: Store,
  parentJti: string,
): Promise<void> {
  const parent = await store.getToken(parentJti);
  assert.ok(parent, `no token ${parentJti}`);
  assert.equal(parent.subject, undefined);
  assert.equal(parent.parentJti, undefined);
  const child: TokenRecord = {
    ...parent,
    jti: id("jti"),
    clientId: "did:agent:example.com:actor",
    subject: parent.clientId,
    parentJti,
  };
  await store.recordToken(child);
  assert.deepEqual(await store.getToken(child.jti), child);
}

/**
 * On a database upgraded from an older schema, a workload identity binds,
 * lists and issues.
 */
export async function assertUpgradedWorkloads(store: Store): Promise<void> {
  const { ag } = await world(store, "workloads.example");
  const identity = workload(ag, { audience: "auth4agent" });
  assert.equal(await store.addWorkloadIdentity(identity), "added");
  assert.deepEqual(await store.listWorkloadIdentities(ag.did), [identity]);
  assert.equal(
    await store.recordIssuance(
      token(ag),
      event({ actor: ag.did }),
      byWorkload(identity),
      ag.publicJwk,
    ),
    "recorded",
  );
}

const isDuplicate = (error: unknown) => {
  assert.ok(
    error instanceof DuplicateError,
    `expected DuplicateError, got ${error}`,
  );
  return true;
};

const isCode = (code: string) => (error: unknown) => {
  assert.ok(
    error instanceof Auth4AgentError,
    `expected Auth4AgentError ${code}, got ${error}`,
  );
  assert.equal(error.code, code);
  return true;
};

// ---------------------------------------------------------------------------
// The suite

interface Db extends StoreUnderTest {
  /** The store, and a second instance on the same database where possible. */
  instances(): Promise<Store[]>;
  /** Another store on the same database (closed by the suite). */
  another(): Promise<Store>;
}

export function storeConformance(
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  options: ConformanceOptions = {},
): void {
  const test = (
    title: string,
    body: (db: Db) => Promise<void>,
    needs: { reopen?: boolean } = {},
  ) => {
    if (needs.reopen && options.reopenable === false) return;
    Deno.test({
      name: `${name}: ${title}`,
      ignore: options.ignore ?? false,
      async fn() {
        const sut = await makeStore();
        const opened: Store[] = [];
        const another = async () => {
          assert.ok(sut.openAnother, "this backend cannot share a database");
          const store = await sut.openAnother();
          opened.push(store);
          return store;
        };
        try {
          await body({
            ...sut,
            another,
            instances: async () =>
              sut.openAnother ? [sut.store, await another()] : [sut.store],
          });
        } finally {
          for (const store of opened) await store.close();
          await sut.store.close();
          await sut.cleanup();
        }
      },
    });
  };

  /** Makes `count` calls at once, spread over the instances. */
  const race = async <T>(
    db: Db,
    count: number,
    call: (store: Store, i: number) => Promise<T>,
  ): Promise<T[]> => {
    const stores = await db.instances();
    return await Promise.all(
      Array.from(
        { length: count },
        (_, i) => call(stores[i % stores.length]!, i),
      ),
    );
  };

  // --- the suite covers the whole interface -------------------------------

  test("every method of the store is in the conformance suite", async ({ store }) => {
    const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(store))
      .filter((key) =>
        key !== "constructor" &&
        typeof (store as unknown as Record<string, unknown>)[key] === "function"
      );
    const missing = methods.filter((method) => !Object.hasOwn(COVERED, method));
    assert.deepEqual(missing, [], "public methods without conformance cases");
    for (const method of Object.keys(COVERED)) {
      assert.ok(methods.includes(method), `${method} is not implemented`);
    }
    await Promise.resolve();
  });

  // --- operators ------------------------------------------------------------

  test("operators: create and get round-trip every field", async ({ store }) => {
    const plain = operator();
    const verified = operator({
      domain: "other.example",
      verifiedAt: at(3.75),
    });
    await store.createOperator(plain);
    await store.createOperator(verified);
    assert.deepEqual(await store.getOperator(plain.id), plain);
    assert.deepEqual(await store.getOperator(verified.id), verified);
    assert.equal(await store.getOperator("op-unknown"), undefined);
  });

  test("operators: same id or same key thumbprint → DuplicateError; same domain is allowed", async ({ store }) => {
    const first = operator();
    await store.createOperator(first);
    await assert.rejects(
      store.createOperator(operator({ id: first.id })),
      isDuplicate,
    );
    await assert.rejects(
      store.createOperator(operator({ thumbprint: first.thumbprint })),
      isDuplicate,
    );
    const sameDomain = operator({ domain: first.domain });
    await store.createOperator(sameDomain);
    assert.equal(
      (await store.getOperator(sameDomain.id))?.domain,
      first.domain,
    );
  });

  test("operators: verification marks once, and never two operators of one domain", async ({ store }) => {
    const a = operator();
    const b = operator();
    const elsewhere = operator({ domain: "elsewhere.example" });
    for (const op of [a, b, elsewhere]) await store.createOperator(op);

    assert.equal(await store.markOperatorVerified(a.id, at(100)), true);
    assert.deepEqual((await store.getOperator(a.id))?.verifiedAt, at(100));
    // Again: still true, and the first verification time stays.
    assert.equal(await store.markOperatorVerified(a.id, at(200)), true);
    assert.deepEqual((await store.getOperator(a.id))?.verifiedAt, at(100));
    // Another operator of the verified domain loses.
    assert.equal(await store.markOperatorVerified(b.id, at(300)), false);
    assert.equal((await store.getOperator(b.id))?.verifiedAt, undefined);
    // Another domain is independent.
    assert.equal(await store.markOperatorVerified(elsewhere.id, at(400)), true);
    assert.deepEqual(
      (await store.getOperator(elsewhere.id))?.verifiedAt,
      at(400),
    );
  });

  test(`operators: ${RACERS} operators of one domain verifying at once → exactly one wins (${DOMAINS} domains)`, async (db) => {
    // Several domains race at the same time, to widen the window a missing
    // lock would leave open.
    const domains = Array.from(
      { length: DOMAINS },
      (_, d) => `d${d}.example`,
    );
    const ops = domains.flatMap((domain) =>
      Array.from({ length: RACERS }, () => operator({ domain }))
    );
    for (const op of ops) await db.store.createOperator(op);
    const results = await race(
      db,
      ops.length,
      (store, i) => store.markOperatorVerified(ops[i]!.id, at(100 + i)),
    );
    for (const domain of domains) {
      const winners = ops.filter((op, i) => op.domain === domain && results[i]);
      assert.equal(winners.length, 1, `${domain}: ${winners.length} winners`);
      for (const op of ops.filter((op) => op.domain === domain)) {
        const stored = await db.store.getOperator(op.id);
        assert.equal(stored?.verifiedAt !== undefined, op === winners[0]);
      }
    }
  });

  // --- agents ---------------------------------------------------------------

  test("agents: create and get round-trip every field; same DID → DuplicateError", async ({ store }) => {
    const op = operator();
    await store.createOperator(op);
    const ag = agent(op);
    await store.createAgent(ag);
    assert.deepEqual(await store.getAgent(ag.did), ag);
    assert.equal(
      await store.getAgent("did:agent:example.com:unknown"),
      undefined,
    );
    await assert.rejects(
      store.createAgent(agent(op, { did: ag.did })),
      isDuplicate,
    );
  });

  test("agents: an agent of an unknown operator is refused (not as a duplicate)", async ({ store }) => {
    const ghost = operator();
    await assert.rejects(store.createAgent(agent(ghost)), (error) => {
      assert.ok(!(error instanceof DuplicateError), String(error));
      return true;
    });
    assert.equal(await store.getOperator(ghost.id), undefined);
  });

  test("agents: key rotation is compare-and-set", async ({ store }) => {
    const { ag } = await world(store);
    const next = jwk();
    assert.equal(
      await store.rotateAgentKey(ag.did, ag.publicJwk, next, at(50)),
      true,
    );
    assert.deepEqual((await store.getAgent(ag.did))?.publicJwk, next);
    // The old key is no longer current: a second rotation from it loses.
    assert.equal(
      await store.rotateAgentKey(ag.did, ag.publicJwk, jwk(), at(60)),
      false,
    );
    assert.deepEqual((await store.getAgent(ag.did))?.publicJwk, next);
    // From the new key, the next rotation wins; the rest of the record stays.
    const third = jwk();
    assert.equal(await store.rotateAgentKey(ag.did, next, third, at(70)), true);
    assert.deepEqual(await store.getAgent(ag.did), { ...ag, publicJwk: third });
    assert.equal(
      await store.rotateAgentKey(
        "did:agent:example.com:unknown",
        third,
        jwk(),
        at(80),
      ),
      false,
    );
  });

  test(`agents: ${RACERS} rotations from one key at once → exactly one wins`, async (db) => {
    const { ag } = await world(db.store);
    const nexts = Array.from({ length: RACERS }, () => jwk());
    const results = await race(
      db,
      RACERS,
      (store, i) =>
        store.rotateAgentKey(ag.did, ag.publicJwk, nexts[i]!, at(50)),
    );
    assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
    assert.deepEqual(
      (await db.store.getAgent(ag.did))?.publicJwk,
      nexts[results.indexOf(true)],
    );
  });

  // --- grants ---------------------------------------------------------------

  test("grants: set, replace and get an agent's scopes", async ({ store }) => {
    const { ag } = await world(store);
    assert.equal(await store.getAgentScopes(ag.did), undefined);
    await store.setAgentScopes(ag.did, ["read:data", "write:data"], at(20));
    assert.deepEqual(await store.getAgentScopes(ag.did), {
      scopes: ["read:data", "write:data"],
      updatedAt: at(20),
    });
    await store.setAgentScopes(ag.did, ["read:data"], at(30));
    assert.deepEqual(await store.getAgentScopes(ag.did), {
      scopes: ["read:data"],
      updatedAt: at(30),
    });
    await store.setAgentScopes(ag.did, [], at(40));
    assert.deepEqual(await store.getAgentScopes(ag.did), {
      scopes: [],
      updatedAt: at(40),
    });
  });

  test("grants: the attesters a grant asks for are stored, read back (scopes and standing), kept by a grant that says nothing of them, cleared by an empty list", async ({ store }) => {
    const { ag } = await world(store);
    const attesters = [
      "https://attester.example",
      "https://tee.example/attester",
    ];
    await store.setAgentScopes(
      ag.did,
      ["read:data"],
      at(20),
      event({ action: "grant.set", target: ag.did }),
      attesters,
    );
    assert.deepEqual(await store.getAgentScopes(ag.did), {
      scopes: ["read:data"],
      attesters,
      updatedAt: at(20),
    });
    assert.deepEqual(
      (await store.getAgentStanding(ag.did))?.grant,
      { scopes: ["read:data"], attesters, updatedAt: at(20) },
    );
    // New scopes without attesters keep the grant's: adding a scope does
    // not drop the requirement.
    await store.setAgentScopes(ag.did, ["read:data", "write:data"], at(30));
    assert.deepEqual(await store.getAgentScopes(ag.did), {
      scopes: ["read:data", "write:data"],
      attesters,
      updatedAt: at(30),
    });
    const standing = await store.getAgentStanding(ag.did);
    assert.deepEqual(standing?.grant?.attesters, attesters);
    assert.deepEqual(standing?.grant?.scopes, ["read:data", "write:data"]);
    // A new list replaces them; an empty one asks for none.
    await store.setAgentScopes(ag.did, ["read:data"], at(40), undefined, [
      "https://attester.example",
    ]);
    assert.deepEqual((await store.getAgentStanding(ag.did))?.grant?.attesters, [
      "https://attester.example",
    ]);
    await store.setAgentScopes(ag.did, ["read:data"], at(50), undefined, []);
    assert.equal((await store.getAgentScopes(ag.did))?.attesters, undefined);
    assert.equal(
      (await store.getAgentStanding(ag.did))?.grant?.attesters,
      undefined,
    );
  });

  test("agents: standing is the agent, its operator and its grant, read at once", async ({ store }) => {
    const { op, ag } = await world(store);
    const other = await world(store, "other.example");
    assert.equal(await store.getAgentStanding("did:agent:nobody"), undefined);
    // No grant yet.
    assert.deepEqual(await store.getAgentStanding(ag.did), {
      agent: ag,
      operator: op,
      grant: undefined,
    });
    await store.setAgentScopes(ag.did, ["read:data"], at(20));
    await store.markOperatorVerified(op.id, at(25));
    await store.changeAgentStatus(ag.did, "suspended", {
      at: at(30),
      by: op.id,
      reason: "audit",
    });
    assert.deepEqual(await store.getAgentStanding(ag.did), {
      agent: await store.getAgent(ag.did),
      operator: await store.getOperator(op.id),
      grant: await store.getAgentScopes(ag.did),
    });
    const standing = (await store.getAgentStanding(ag.did))!;
    assert.equal(standing.agent.status, "suspended");
    assert.deepEqual(standing.operator.verifiedAt, at(25));
    assert.deepEqual(standing.grant?.scopes, ["read:data"]);
    // Each agent comes with its own operator, never another's.
    assert.deepEqual(
      (await store.getAgentStanding(other.ag.did))?.operator,
      other.op,
    );
  });

  test("agents: a standing follows each change at once, made through this instance or another", async (db) => {
    const [reader, ...others] = await db.instances();
    for (const [i, writer] of [reader!, ...others].entries()) {
      const { op, ag } = await world(writer, `standing${i}.example`);
      // Read first, so a store that keeps standings holds this one.
      const standing = async () => (await reader!.getAgentStanding(ag.did))!;
      assert.equal((await standing()).grant, undefined);
      await writer.setAgentScopes(ag.did, ["read:data"], at(20));
      assert.deepEqual((await standing()).grant?.scopes, ["read:data"]);
      assert.ok(await writer.markOperatorVerified(op.id, at(25)));
      assert.deepEqual((await standing()).operator.verifiedAt, at(25));
      const next = jwk();
      assert.ok(
        await writer.rotateAgentKey(ag.did, ag.publicJwk, next, at(26)),
      );
      assert.deepEqual((await standing()).agent.publicJwk, next);
      await writer.changeAgentStatus(ag.did, "suspended", {
        at: at(30),
        by: op.id,
        reason: "audit",
      });
      assert.equal((await standing()).agent.status, "suspended");
    }
  });

  // --- challenges -----------------------------------------------------------

  test("challenges: consumed once, only with matching kind and subject", async ({ store }) => {
    const challenge: ChallengeRecord = {
      nonce: randomToken(),
      kind: "token_challenge",
      subject: "did:agent:example.com:0123",
      expiresAt: at(120),
    };
    await store.createChallenge(challenge);
    await assert.rejects(store.createChallenge(challenge), isDuplicate);
    // A mismatch neither returns nor consumes it.
    assert.equal(
      await store.consumeChallenge(
        challenge.nonce,
        "request_nonce",
        challenge.subject,
        at(1),
      ),
      undefined,
    );
    assert.equal(
      await store.consumeChallenge(
        challenge.nonce,
        challenge.kind,
        "did:agent:example.com:other",
        at(1),
      ),
      undefined,
    );
    assert.deepEqual(
      await store.consumeChallenge(
        challenge.nonce,
        challenge.kind,
        challenge.subject,
        at(1),
      ),
      challenge,
    );
    assert.equal(
      await store.consumeChallenge(
        challenge.nonce,
        challenge.kind,
        challenge.subject,
        at(1),
      ),
      undefined,
    );
    // Request nonces have an empty subject.
    const nonce: ChallengeRecord = {
      nonce: randomToken(),
      kind: "request_nonce",
      subject: "",
      expiresAt: at(60),
    };
    await store.createChallenge(nonce);
    assert.deepEqual(
      await store.consumeChallenge(
        nonce.nonce,
        "request_nonce",
        "",
        at(59.999),
      ),
      nonce,
    );
  });

  test("challenges: an expired challenge is never returned, not even at its expiry instant", async ({ store }) => {
    const challenge: ChallengeRecord = {
      nonce: randomToken(),
      kind: "token_challenge",
      subject: "did:agent:example.com:0123",
      expiresAt: at(120),
    };
    await store.createChallenge(challenge);
    for (const now of [at(120), at(120.001), at(3600)]) {
      assert.equal(
        await store.consumeChallenge(
          challenge.nonce,
          challenge.kind,
          challenge.subject,
          now,
        ),
        undefined,
      );
    }
    // Still there for the sweeper, and the sweeper removes it.
    assert.equal(await store.sweep(at(120)), 1);
    assert.equal(
      await store.consumeChallenge(
        challenge.nonce,
        challenge.kind,
        challenge.subject,
        at(0),
      ),
      undefined,
    );
  });

  test(`challenges: ${RACERS} concurrent consumes of one nonce → exactly one winner`, async (db) => {
    const challenge: ChallengeRecord = {
      nonce: randomToken(),
      kind: "token_challenge",
      subject: "did:agent:example.com:0123",
      expiresAt: at(120),
    };
    await db.store.createChallenge(challenge);
    const results = await race(
      db,
      RACERS,
      (store) =>
        store.consumeChallenge(
          challenge.nonce,
          challenge.kind,
          challenge.subject,
          at(1),
        ),
    );
    const winners = results.filter((result) => result !== undefined);
    assert.equal(winners.length, 1);
    assert.deepEqual(winners[0], challenge);
  });

  // --- replay cache ---------------------------------------------------------

  test("replay cache: a jti is remembered once per client", async ({ store }) => {
    const remember = (clientId: string, jti: string, expiresAt?: Date) =>
      store.consumeSingleUse(byJti(clientId, jti, expiresAt));
    assert.equal(await remember("client-a", "jti-1"), true);
    assert.equal(await remember("client-a", "jti-1"), false);
    // A new assertion that reuses the jti, with another expiry, is refused too.
    assert.equal(await remember("client-a", "jti-1", at(900)), false);
    assert.equal(await remember("client-b", "jti-1"), true);
    assert.equal(await remember("client-a", "jti-2"), true);
  });

  test(`replay cache: ${RACERS} concurrent uses of one jti → exactly one true`, async (db) => {
    const results = await race(
      db,
      RACERS,
      (store) => store.consumeSingleUse(byJti("client-a", "jti-raced")),
    );
    assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
  });

  // --- issuance -------------------------------------------------------------

  test("federated issuance: records the token, its traded token and its audit entry; refuses a DID registered here, writing nothing; lists the live unrevoked ones", async ({ store }) => {
    const { ag } = await world(store);
    // A peer's agent: no operator or agent row here.
    const foreign = agent(operator({ domain: "partner.example" }));
    const traded = {
      peer: "https://peer.example",
      status: { status_list: { idx: 7, uri: "https://peer.example/sl/0" } },
    };
    const first = token(foreign);
    const issued = event({
      actor: foreign.did,
      action: "token.federated",
      target: first.jti,
    });
    assert.equal(
      await store.recordFederatedIssuance(first, issued, traded),
      "recorded",
    );
    assert.deepEqual(await store.getToken(first.jti), first);
    const [entry] = await store.listAudit({ limit: 10 });
    assert.equal(entry?.target, first.jti);
    assert.equal(entry?.action, "token.federated");
    assert.deepEqual(await store.listFederatedTokens(at(20)), [
      { jti: first.jti, domain: "partner.example", ...traded },
    ]);
    // An agent of the DID registered here asks with its own key.
    const mine = token(ag);
    assert.equal(
      await store.recordFederatedIssuance(
        mine,
        event({ target: mine.jti }),
        traded,
      ),
      "registered",
    );
    assert.equal(await store.getToken(mine.jti), undefined);
    assert.equal((await store.listAudit({ limit: 10 })).length, 1);
    // Listed while live and unrevoked; expired or revoked, not; swept once expired.
    assert.deepEqual(await store.listFederatedTokens(at(910)), []);
    const second = token(foreign);
    await store.recordFederatedIssuance(second, event(), traded);
    assert.ok(await store.revokeToken(second.jti, { at: at(30), by: "x" }));
    assert.deepEqual(
      (await store.listFederatedTokens(at(40))).map((t) => t.jti),
      [first.jti],
    );
    assert.equal(await store.sweep(at(910)), 2);
    assert.deepEqual(await store.listFederatedTokens(at(20)), []);
  });

  test("issuance: consumes the challenge, records the token and its audit entry in one write", async ({ store }) => {
    const { ag } = await world(store);
    const nonce = await tokenChallengeFor(store, ag);
    const first = token(ag);
    const issued = event({
      actor: ag.did,
      action: "token.issue",
      target: first.jti,
    });
    const bySameChallenge = { challenge: nonce, subject: ag.did, now: at(5) };
    assert.equal(
      await store.recordIssuance(first, issued, bySameChallenge, ag.publicJwk),
      "recorded",
    );
    assert.deepEqual(await store.getToken(first.jti), first);
    const [entry] = await store.listAudit({ limit: 10 });
    assert.equal(entry?.target, first.jti);
    // Used: refused, and nothing of the second token is written.
    const second = token(ag);
    assert.equal(
      await store.recordIssuance(second, issued, bySameChallenge, ag.publicJwk),
      "replayed",
    );
    assert.equal(await store.getToken(second.jti), undefined);
    assert.equal((await store.listAudit({ limit: 10 })).length, 1);
  });

  test("issuance: an expired challenge or another agent's challenge records nothing", async ({ store }) => {
    const { ag } = await world(store);
    const nonce = await tokenChallengeFor(store, ag);
    const t = token(ag);
    const issued = event({ actor: ag.did });
    assert.equal(
      await store.recordIssuance(t, issued, {
        challenge: nonce,
        subject: "did:agent:example.com:other",
        now: at(5),
      }, ag.publicJwk),
      "replayed",
    );
    assert.equal(
      await store.recordIssuance(t, issued, {
        challenge: nonce,
        subject: ag.did,
        now: at(120),
      }, ag.publicJwk),
      "replayed",
    );
    assert.equal(await store.getToken(t.jti), undefined);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
  });

  test("issuance: a jti is accepted once per client until it expires", async ({ store }) => {
    const { ag } = await world(store);
    const spent = byJti(ag.did, "jti-1");
    assert.equal(
      await store.recordIssuance(token(ag), event(), spent, ag.publicJwk),
      "recorded",
    );
    const again = token(ag);
    assert.equal(
      await store.recordIssuance(again, event(), spent, ag.publicJwk),
      "replayed",
    );
    assert.equal(await store.getToken(again.jti), undefined);
    // One replay cache: the jti is spent for every other use too.
    assert.equal(await store.consumeSingleUse(spent), false);
  });

  test(`issuance: ${RACERS} concurrent issuances on one challenge → exactly one token`, async (db) => {
    const { ag } = await world(db.store);
    const nonce = await tokenChallengeFor(db.store, ag);
    const tokens = Array.from({ length: RACERS }, () => token(ag));
    const results = await race(
      db,
      RACERS,
      (store, i) =>
        store.recordIssuance(tokens[i]!, event({ actor: ag.did }), {
          challenge: nonce,
          subject: ag.did,
          now: at(5),
        }, ag.publicJwk),
    );
    assert.equal(
      results.filter((outcome) => outcome === "recorded").length,
      1,
      JSON.stringify(results),
    );
    const stored = await Promise.all(
      tokens.map((t) => db.store.getToken(t.jti)),
    );
    assert.equal(stored.filter(Boolean).length, 1);
    assert.ok(checkChain(await db.store.listAudit({ limit: 100 })).ok);
  });

  // --- single use -----------------------------------------------------------

  test("single use: a challenge is consumed once, a jti remembered once, with the same replay cache as issuance", async ({ store }) => {
    const { ag } = await world(store);
    const nonce = await tokenChallengeFor(store, ag);
    const byChallenge = { challenge: nonce, subject: ag.did, now: at(5) };
    assert.equal(
      await store.consumeSingleUse({
        ...byChallenge,
        subject: "did:agent:example.com:other",
      }),
      false,
    );
    assert.equal(await store.consumeSingleUse(byChallenge), true);
    assert.equal(await store.consumeSingleUse(byChallenge), false);
    const jtiOnce = byJti(ag.did, "jti-su");
    assert.equal(await store.consumeSingleUse(jtiOnce), true);
    assert.equal(await store.consumeSingleUse(jtiOnce), false);
    assert.equal(
      await store.recordIssuance(token(ag), event(), jtiOnce, ag.publicJwk),
      "replayed",
    );
  });

  test("issuance: an agent no longer active gets its status back, and nothing is written", async ({ store }) => {
    const { op, ag } = await world(store);
    const nonce = await tokenChallengeFor(store, ag);
    const byChallenge = { challenge: nonce, subject: ag.did, now: at(5) };
    for (const status of ["suspended", "revoked"] as const) {
      await store.changeAgentStatus(ag.did, status, { at: at(1), by: op.id });
      const t = token(ag);
      assert.equal(
        await store.recordIssuance(
          t,
          event(),
          byJti(ag.did, `jti-${status}`),
          ag.publicJwk,
        ),
        status,
      );
      assert.equal(
        await store.recordIssuance(t, event(), byChallenge, ag.publicJwk),
        status,
      );
      assert.equal(await store.getToken(t.jti), undefined);
    }
    // Neither the jtis nor the challenge were spent.
    assert.equal(
      await store.consumeSingleUse(byJti(ag.did, "jti-revoked")),
      true,
    );
    assert.equal(await store.consumeSingleUse(byChallenge), true);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
  });

  test('issuance: a key rotated since the request was authenticated is "rotated", and nothing is written', async ({ store }) => {
    const { ag } = await world(store);
    const next = jwk();
    assert.equal(
      await store.rotateAgentKey(ag.did, ag.publicJwk, next, at(1)),
      true,
    );
    const t = token(ag);
    const spent = byJti(ag.did, "jti-old-key");
    // Authenticated with the key the agent held before.
    assert.equal(
      await store.recordIssuance(t, event(), spent, ag.publicJwk),
      "rotated",
    );
    assert.equal(await store.getToken(t.jti), undefined);
    assert.equal(
      await store.recordIssuance(t, event(), spent, next),
      "recorded",
    );
  });

  test(`issuance: ${RACERS} issuances racing a suspension → no token left unrevoked`, async (db) => {
    const { op, ag } = await world(db.store);
    const half = Math.floor(RACERS / 2);
    const outcomes = await race<IssuanceOutcome | number | undefined>(
      db,
      RACERS + 1,
      (store, i) =>
        i === half
          ? store.changeAgentStatus(ag.did, "suspended", {
            at: at(5),
            by: op.id,
          })
          : store.recordIssuance(
            token(ag, { jti: `race-${i}` }),
            event({ actor: ag.did }),
            byJti(ag.did, `race-${i}`),
            ag.publicJwk,
          ),
    );
    const recorded = outcomes.filter((outcome) => outcome === "recorded");
    assert.equal(
      recorded.length + outcomes.filter((o) => o === "suspended").length,
      RACERS,
      JSON.stringify(outcomes),
    );
    // The suspension revoked every token recorded before it, and none was
    // recorded after it.
    assert.equal(outcomes[half], recorded.length);
    for (let i = 0; i <= RACERS; i++) {
      if (i === half) continue;
      const stored = await db.store.getToken(`race-${i}`);
      if (outcomes[i] === "recorded") {
        assert.equal(stored?.revokeReason, "agent suspended", `race-${i}`);
      } else {
        assert.equal(stored, undefined, `race-${i}`);
      }
    }
  });

  // --- workload identities --------------------------------------------------

  test("workload identities: add, list oldest first (then by issuer and subject, byte order) and remove round-trip, with and without an audience", async ({ store }) => {
    const { ag } = await world(store);
    const { ag: other } = await world(store, "other.example");
    assert.deepEqual(await store.listWorkloadIdentities(ag.did), []);
    const late = workload(ag, { createdAt: at(30) });
    const k8s = workload(ag, {
      issuer: "https://k8s.example",
      subject: "system:serviceaccount:payments:api",
      audience: "https://issuer.example",
    });
    const jobLower = workload(ag, {
      issuer: "https://ci.example",
      subject: "job-a",
    });
    // "J" sorts before "j" in byte order, after it in most locales.
    const jobUpper = workload(ag, {
      issuer: "https://ci.example",
      subject: "Job-b",
      audience: "ci",
    });
    // The same platform identity may be bound to another agent too.
    const theirs = workload(other, {
      issuer: k8s.issuer,
      subject: k8s.subject,
      createdAt: at(10),
    });
    for (const identity of [late, k8s, jobLower, jobUpper, theirs]) {
      assert.equal(await store.addWorkloadIdentity(identity), "added");
    }
    const listed = await store.listWorkloadIdentities(ag.did);
    assert.deepEqual(listed, [jobUpper, jobLower, k8s, late]);
    assert.ok(!Object.hasOwn(listed[1]!, "audience"), "absent, not undefined");
    assert.deepEqual(await store.listWorkloadIdentities(other.did), [theirs]);
    assert.deepEqual(
      await store.listWorkloadIdentities("did:agent:example.com:unknown"),
      [],
    );

    assert.equal(
      await store.removeWorkloadIdentity(ag.did, k8s.issuer, k8s.subject),
      true,
    );
    assert.equal(
      await store.removeWorkloadIdentity(ag.did, k8s.issuer, k8s.subject),
      false,
    );
    // Exactly the one named: not another agent's, not another subject.
    assert.equal(
      await store.removeWorkloadIdentity(ag.did, k8s.issuer, "job-a"),
      false,
    );
    assert.equal(
      await store.removeWorkloadIdentity(
        "did:agent:example.com:unknown",
        late.issuer,
        late.subject,
      ),
      false,
    );
    assert.deepEqual(await store.listWorkloadIdentities(ag.did), [
      jobUpper,
      jobLower,
      late,
    ]);
    assert.deepEqual(await store.listWorkloadIdentities(other.did), [theirs]);
    // Not something the sweeper removes.
    assert.equal(await store.sweep(at(1e9)), 0);
    assert.equal((await store.listWorkloadIdentities(ag.did)).length, 3);
  });

  test('workload identities: one the agent has (same issuer and subject) is "exists", the first left unchanged', async ({ store }) => {
    const { ag } = await world(store);
    const first = workload(ag, { audience: "first" });
    assert.equal(await store.addWorkloadIdentity(first), "added");
    const { audience: _, ...noAudience } = first;
    for (
      const again of [
        { ...first, audience: "second", createdAt: at(99), createdBy: "op-x" },
        { ...noAudience, createdAt: at(1) },
      ]
    ) {
      assert.equal(
        await store.addWorkloadIdentity(again, event({ action: "x" })),
        "exists",
      );
    }
    assert.deepEqual(await store.listWorkloadIdentities(ag.did), [first]);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
    // Another subject of the issuer is another identity.
    assert.equal(
      await store.addWorkloadIdentity({ ...first, subject: "other" }),
      "added",
    );
  });

  test(`workload identities: an agent holds at most ${MAX_WORKLOAD_IDENTITIES}: "full" beyond, "exists" still for one it has, room again after a removal`, async ({ store }) => {
    const { ag } = await world(store);
    const { ag: other } = await world(store, "other.example");
    const held = Array.from(
      { length: MAX_WORKLOAD_IDENTITIES },
      (_, i) => workload(ag, { subject: `job-${i}`, createdAt: at(20 + i) }),
    );
    for (const identity of held) {
      assert.equal(await store.addWorkloadIdentity(identity), "added");
    }
    const extra = workload(ag, { subject: "extra", createdAt: at(100) });
    assert.equal(
      await store.addWorkloadIdentity(extra, event({ action: "x" })),
      "full",
    );
    assert.equal(await store.addWorkloadIdentity(held[3]!), "exists");
    assert.deepEqual(await store.listWorkloadIdentities(ag.did), held);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
    // Each agent has its own.
    assert.equal(
      await store.addWorkloadIdentity(workload(other, { subject: "extra" })),
      "added",
    );
    assert.ok(
      await store.removeWorkloadIdentity(ag.did, held[0]!.issuer, "job-0"),
    );
    assert.equal(await store.addWorkloadIdentity(extra), "added");
    assert.equal(
      await store.addWorkloadIdentity(workload(ag, { subject: "one more" })),
      "full",
    );
    assert.deepEqual(await store.listWorkloadIdentities(ag.did), [
      ...held.slice(1),
      extra,
    ]);
  });

  test(`workload identities: ${RACERS} adds at once to an agent holding none → exactly ${MAX_WORKLOAD_IDENTITIES} added, the rest "full", one audit entry each added`, async (db) => {
    const { ag } = await world(db.store);
    const identities = Array.from(
      { length: RACERS },
      (_, i) => workload(ag, { subject: `job-${i}` }),
    );
    const results = await race(
      db,
      RACERS,
      (store, i) =>
        store.addWorkloadIdentity(
          identities[i]!,
          event({ action: "workload.add", target: `job-${i}` }),
        ),
    );
    const added = identities.filter((_, i) => results[i] === "added");
    assert.equal(
      added.length,
      MAX_WORKLOAD_IDENTITIES,
      JSON.stringify(results),
    );
    assert.equal(
      results.filter((result) => result === "full").length,
      RACERS - MAX_WORKLOAD_IDENTITIES,
    );
    const listed = await db.store.listWorkloadIdentities(ag.did);
    assert.deepEqual(
      listed.map((identity) => identity.subject).sort(),
      added.map((identity) => identity.subject).sort(),
    );
    const entries = await db.store.listAudit({ limit: 100 });
    assert.ok(checkChain(entries).ok);
    assert.deepEqual(
      entries.map((entry) => entry.target).sort(),
      added.map((identity) => identity.subject).sort(),
    );
  });

  test(`workload identities: ${RACERS} adds of one identity at once → one "added", the rest "exists"`, async (db) => {
    const { ag } = await world(db.store);
    const identity = workload(ag);
    const results = await race(
      db,
      RACERS,
      (store, i) =>
        store.addWorkloadIdentity(
          { ...identity, createdAt: at(20 + i) },
          event({ action: "workload.add" }),
        ),
    );
    assert.equal(
      results.filter((result) => result === "added").length,
      1,
      JSON.stringify(results),
    );
    assert.equal(
      results.filter((result) => result === "exists").length,
      RACERS - 1,
    );
    assert.deepEqual(await db.store.listWorkloadIdentities(ag.did), [
      { ...identity, createdAt: at(20 + results.indexOf("added")) },
    ]);
    assert.equal((await db.store.listAudit({ limit: 100 })).length, 1);
  });

  test("workload identities: one for an unknown agent is refused (not as a duplicate), and nothing is written", async ({ store }) => {
    const ghost = agent(operator());
    await assert.rejects(
      store.addWorkloadIdentity(workload(ghost), event()),
      (error) => {
        assert.ok(!(error instanceof DuplicateError), String(error));
        return true;
      },
    );
    assert.deepEqual(await store.listWorkloadIdentities(ghost.did), []);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
  });

  test("workload identities: add and remove append their audit entry in the same write, only when they take effect", async ({ store }) => {
    const { ag } = await world(store);
    const identity = workload(ag);
    assert.equal(
      await store.addWorkloadIdentity(identity, event({ action: "w.add" })),
      "added",
    );
    assert.equal(
      await store.addWorkloadIdentity(identity, event({ action: "x" })),
      "exists",
    );
    assert.equal(
      await store.removeWorkloadIdentity(
        ag.did,
        identity.issuer,
        identity.subject,
        event({ action: "w.remove" }),
      ),
      true,
    );
    assert.equal(
      await store.removeWorkloadIdentity(
        ag.did,
        identity.issuer,
        identity.subject,
        event({ action: "x" }),
      ),
      false,
    );
    const entries = await store.listAudit({ limit: 10 });
    assert.deepEqual(entries.map((entry) => entry.action), [
      "w.add",
      "w.remove",
    ]);
    assert.ok(checkChain(entries).ok);
  });

  test("issuance: a scope taken from a grant while a request is in flight is \"scope_not_granted\" in the write, and writes nothing; a delegation's subject's grant counts too", async ({ store }) => {
    const { agents: [ag, actor] } = await agents(store, 2);
    const issue = (t: TokenRecord, holder: AgentRecord) =>
      store.recordIssuance(
        t,
        event({ actor: holder.did, target: t.jti }),
        byJti(holder.did, id("jti")),
        holder.publicJwk,
      );
    await store.setAgentScopes(ag!.did, ["read:data", "write:data"], at(20));
    await store.setAgentScopes(actor!.did, ["read:data", "write:data"], at(20));
    const parent = token(ag!);
    assert.equal(await issue(parent, ag!), "recorded");
    // The operator takes write:data away.
    await store.setAgentScopes(ag!.did, ["read:data"], at(30));
    const both = token(ag!);
    assert.equal(await issue(both, ag!), "scope_not_granted");
    assert.equal(await store.getToken(both.jti), undefined);
    assert.equal(
      await issue(token(ag!, { scope: "read:data" }), ag!),
      "recorded",
    );
    // A delegation from ag to actor: ag's grant (the subject's) counts too.
    const child = delegated(actor!, parent);
    assert.equal(await issue(child, actor!), "scope_not_granted");
    assert.equal(await store.getToken(child.jti), undefined);
    assert.equal(
      await issue(delegated(actor!, parent, { scope: "read:data" }), actor!),
      "recorded",
    );
  });

  test("issuance: a grant's ask for an attestation is met inside the write: none, or another attester's, is \"attestation_required\" and writes nothing; a delegation's subject's grant asks too", async ({ store }) => {
    const { agents: [ag, actor] } = await agents(store, 2);
    const attester = "https://attester.example";
    const issue = (t: TokenRecord, holder: AgentRecord, attestedBy?: string) =>
      store.recordIssuance(
        t,
        event({ actor: holder.did, target: t.jti }),
        byJti(holder.did, id("jti")),
        holder.publicJwk,
        attestedBy,
      );
    // No ask: with or without an attestation.
    assert.equal(await issue(token(ag!), ag!), "recorded");
    assert.equal(await issue(token(ag!), ag!, attester), "recorded");
    // The grant changes (as while a request is in flight).
    await store.setAgentScopes(
      ag!.did,
      ["read:data", "write:data"],
      at(20),
      undefined,
      [attester],
    );
    const refused = [token(ag!), token(ag!)];
    assert.equal(await issue(refused[0]!, ag!), "attestation_required");
    assert.equal(
      await issue(refused[1]!, ag!, "https://other.example"),
      "attestation_required",
    );
    for (const t of refused) {
      assert.equal(await store.getToken(t.jti), undefined);
    }
    assert.equal(await issue(token(ag!), ag!, attester), "recorded");
    // A delegation from ag to actor: ag's grant (the subject's) asks too.
    const parent = token(ag!);
    assert.equal(await issue(parent, ag!, attester), "recorded");
    const child = delegated(actor!, parent);
    assert.equal(await issue(child, actor!), "attestation_required");
    assert.equal(await store.getToken(child.jti), undefined);
    assert.equal(
      await issue(delegated(actor!, parent), actor!, attester),
      "recorded",
    );
  });

  test('issuance: a workload\'s token is recorded while its identity is bound — again and again, nothing consumed — and "unbound" once removed, writing nothing', async ({ store }) => {
    const { ag } = await world(store);
    const { ag: other } = await world(store, "other.example");
    const identity = workload(ag, { audience: "https://issuer.example" });
    assert.equal(await store.addWorkloadIdentity(identity), "added");
    const issue = (t: TokenRecord, bound = identity, holder = ag) =>
      store.recordIssuance(
        t,
        event({ actor: holder.did, target: t.jti }),
        byWorkload(bound),
        holder.publicJwk,
      );
    const first = token(ag);
    const second = token(ag);
    assert.equal(await issue(first), "recorded");
    assert.equal(await issue(second), "recorded");
    assert.deepEqual(await store.getToken(first.jti), first);
    assert.deepEqual(await store.getToken(second.jti), second);
    // Bound to this agent only; and only this issuer's subject.
    const refused = [
      token(other),
      token(ag),
      token(ag),
    ];
    assert.equal(await issue(refused[0]!, identity, other), "unbound");
    assert.equal(
      await issue(refused[1]!, { ...identity, subject: "someone else" }),
      "unbound",
    );
    assert.equal(
      await issue(refused[2]!, {
        ...identity,
        issuer: "https://other.example",
      }),
      "unbound",
    );
    // The workload variant is not a single use of its own.
    await assert.rejects(store.consumeSingleUse(byWorkload(identity)));

    assert.ok(
      await store.removeWorkloadIdentity(
        ag.did,
        identity.issuer,
        identity.subject,
      ),
    );
    const after = token(ag);
    assert.equal(await issue(after), "unbound");
    for (const t of [...refused, after]) {
      assert.equal(await store.getToken(t.jti), undefined);
    }
    // Tokens recorded before stay as they were.
    assert.deepEqual(await store.getToken(first.jti), first);
    assert.deepEqual(
      (await store.listAudit({ limit: 10 })).map((entry) => entry.target),
      [first.jti, second.jti],
    );
    // Bound again, it issues again.
    assert.equal(await store.addWorkloadIdentity(identity), "added");
    assert.equal(await issue(token(ag)), "recorded");
  });

  test('issuance: a workload\'s agent no longer active gets its status back, one with another key "rotated", and nothing is written', async ({ store }) => {
    const { op, ag } = await world(store);
    const identity = workload(ag);
    assert.equal(await store.addWorkloadIdentity(identity), "added");
    const refused: TokenRecord[] = [];
    const issue = (key: Ed25519PublicJwk) => {
      const t = token(ag);
      refused.push(t);
      return store.recordIssuance(
        t,
        event({ actor: ag.did, target: t.jti }),
        byWorkload(identity),
        key,
      );
    };
    const next = jwk();
    assert.ok(await store.rotateAgentKey(ag.did, ag.publicJwk, next, at(1)));
    assert.equal(await issue(ag.publicJwk), "rotated");
    for (const status of ["suspended", "revoked"] as const) {
      await store.changeAgentStatus(ag.did, status, { at: at(2), by: op.id });
      assert.equal(await issue(next), status);
    }
    // Unbound too: the status comes first.
    assert.ok(
      await store.removeWorkloadIdentity(
        ag.did,
        identity.issuer,
        identity.subject,
      ),
    );
    assert.equal(await issue(next), "revoked");
    for (const t of refused) {
      assert.equal(await store.getToken(t.jti), undefined);
    }
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
  });

  test(`issuance: ${RACERS} workload issuances racing the removal of its identity → each recorded before the removal, or "unbound"`, async (db) => {
    const { ag } = await world(db.store);
    const identity = workload(ag);
    assert.equal(await db.store.addWorkloadIdentity(identity), "added");
    const half = Math.floor(RACERS / 2);
    const outcomes = await race<IssuanceOutcome | boolean>(
      db,
      RACERS + 1,
      (store, i) =>
        i === half
          ? store.removeWorkloadIdentity(
            ag.did,
            identity.issuer,
            identity.subject,
            event({ action: "workload.remove", target: ag.did }),
          )
          : store.recordIssuance(
            token(ag, { jti: `wl-${i}` }),
            event({ actor: ag.did, action: "token.issue", target: `wl-${i}` }),
            byWorkload(identity),
            ag.publicJwk,
          ),
    );
    assert.equal(outcomes[half], true);
    const entries = await db.store.listAudit({ limit: 1000 });
    const check = checkChain(entries);
    assert.equal(check.ok, true, JSON.stringify(check.broken));
    // The audit chain is the commit order: every token recorded committed
    // before the removal did; none was recorded after it.
    const removal = entries.filter((e) => e.action === "workload.remove");
    assert.equal(removal.length, 1);
    let recorded = 0;
    for (let i = 0; i <= RACERS; i++) {
      if (i === half) continue;
      const jti = `wl-${i}`;
      const stored = await db.store.getToken(jti);
      const issued = entries.filter((e) => e.target === jti);
      if (outcomes[i] === "recorded") {
        recorded++;
        assert.equal(stored?.jti, jti);
        assert.equal(issued.length, 1, jti);
        assert.ok(issued[0]!.seq < removal[0]!.seq, `${jti} after removal`);
      } else {
        assert.equal(outcomes[i], "unbound", JSON.stringify(outcomes));
        assert.equal(stored, undefined, jti);
        assert.deepEqual(issued, [], jti);
      }
    }
    assert.equal(entries.length, recorded + 1);
    assert.deepEqual(await db.store.listWorkloadIdentities(ag.did), []);
    assert.equal(
      await db.store.recordIssuance(
        token(ag),
        event({ actor: ag.did }),
        byWorkload(identity),
        ag.publicJwk,
      ),
      "unbound",
    );
  });

  // --- sweep ----------------------------------------------------------------

  test("sweep: deletes expired challenges and replay entries, keeps live ones", async ({ store }) => {
    const live: ChallengeRecord = {
      nonce: randomToken(),
      kind: "request_nonce",
      subject: "",
      expiresAt: at(200),
    };
    for (const expiresAt of [at(50), at(100)]) {
      await store.createChallenge({
        nonce: randomToken(),
        kind: "token_challenge",
        subject: "did:agent:example.com:0123",
        expiresAt,
      });
    }
    await store.createChallenge(live);
    await store.consumeSingleUse(byJti("client-a", "old", at(100)));
    await store.consumeSingleUse(byJti("client-a", "new", at(200)));

    assert.equal(await store.sweep(at(100)), 3, "expires_at <= now is swept");
    assert.equal(await store.sweep(at(100)), 0);
    // The swept jti is forgotten; the live one is not.
    assert.equal(
      await store.consumeSingleUse(byJti("client-a", "old", at(300))),
      true,
    );
    assert.equal(
      await store.consumeSingleUse(byJti("client-a", "new", at(300))),
      false,
    );
    assert.deepEqual(
      await store.consumeChallenge(live.nonce, live.kind, "", at(150)),
      live,
    );
  });

  test("sweep: more expired entries than one sweep chunk are all swept, and counted", async ({ store }) => {
    const expired = Array.from({ length: 1_200 }, (_, i) => `jti-${i}`);
    for (let i = 0; i < expired.length; i += 200) {
      await Promise.all(
        expired.slice(i, i + 200).map((jti) =>
          store.consumeSingleUse(byJti("client-a", jti, at(10)))
        ),
      );
    }
    await Promise.all(Array.from({ length: 300 }, () =>
      store.createChallenge({
        nonce: randomToken(),
        kind: "request_nonce",
        subject: "",
        expiresAt: at(10),
      })));
    await store.consumeSingleUse(byJti("client-a", "live", at(500)));
    assert.equal(await store.sweep(at(20)), 1_500);
    assert.equal(await store.sweep(at(20)), 0);
    assert.equal(
      await store.consumeSingleUse(byJti("client-a", "jti-7", at(500))),
      true,
    );
    assert.equal(
      await store.consumeSingleUse(byJti("client-a", "live", at(500))),
      false,
    );
  });

  // --- tokens ---------------------------------------------------------------

  test("tokens: record and get round-trip; same jti → DuplicateError", async ({ store }) => {
    const { ag } = await world(store);
    const plain = token(ag);
    const preRevoked = token(ag, { revokedAt: at(20) });
    await store.recordToken(plain);
    await store.recordToken(preRevoked);
    assert.deepEqual(await store.getToken(plain.jti), plain);
    assert.deepEqual(await store.getToken(preRevoked.jti), preRevoked);
    assert.equal(await store.getToken("jti-unknown"), undefined);
    await assert.rejects(
      store.recordToken(token(ag, { jti: plain.jti })),
      isDuplicate,
    );
  });

  test("tokens: revocation is recorded once; unknown tokens → false", async ({ store }) => {
    const { ag } = await world(store);
    const t = token(ag);
    await store.recordToken(t);
    assert.equal(
      await store.revokeToken(t.jti, {
        at: at(30),
        by: ag.did,
        reason: "leaked",
      }),
      true,
    );
    const revoked = {
      ...t,
      revokedAt: at(30),
      revokedBy: ag.did,
      revokeReason: "leaked",
    };
    assert.deepEqual(await store.getToken(t.jti), revoked);
    // Revoking again still says the token exists, and keeps the first record.
    assert.equal(
      await store.revokeToken(t.jti, { at: at(40), by: "op-x" }),
      true,
    );
    assert.deepEqual(await store.getToken(t.jti), revoked);
    assert.equal(
      await store.revokeToken("jti-unknown", { at: at(30), by: ag.did }),
      false,
    );
    // Without a reason.
    const other = token(ag);
    await store.recordToken(other);
    assert.equal(
      await store.revokeToken(other.jti, { at: at(50), by: "op-x" }),
      true,
    );
    assert.deepEqual(await store.getToken(other.jti), {
      ...other,
      revokedAt: at(50),
      revokedBy: "op-x",
      revokeReason: undefined,
    });
  });

  // --- agent status ---------------------------------------------------------

  test("agent status: leaving active revokes exactly the agent's live tokens, in one step", async ({ store }) => {
    const { op, ag } = await world(store);
    const { ag: neighbour } = await world(store);
    const live = token(ag, { expiresAt: at(1000) });
    // Verifiers take a token up to their clock leeway (30 s) past its exp.
    const justExpired = token(ag, { expiresAt: at(71) });
    const expired = token(ag, { expiresAt: at(70) });
    const alreadyRevoked = token(ag, { revokedAt: at(50) });
    const neighbours = token(neighbour);
    for (const t of [live, justExpired, expired, alreadyRevoked, neighbours]) {
      await store.recordToken(t);
    }

    const suspend = { at: at(100), by: op.id, reason: "investigating" };
    assert.equal(
      await store.changeAgentStatus(ag.did, "suspended", suspend),
      2,
    );
    assert.equal(
      (await store.getToken(justExpired.jti))?.revokedAt?.getTime(),
      at(100).getTime(),
    );
    assert.deepEqual(await store.getAgent(ag.did), {
      ...ag,
      status: "suspended",
      statusChange: suspend,
    });
    assert.deepEqual(await store.getToken(live.jti), {
      ...live,
      revokedAt: at(100),
      revokedBy: op.id,
      revokeReason: "agent suspended",
    });
    assert.deepEqual(await store.getToken(expired.jti), expired);
    assert.deepEqual(await store.getToken(alreadyRevoked.jti), alreadyRevoked);
    assert.deepEqual(await store.getToken(neighbours.jti), neighbours);

    // Back to active: nothing is revoked, nothing un-revoked.
    const resume = { at: at(200), by: op.id };
    assert.equal(await store.changeAgentStatus(ag.did, "active", resume), 0);
    assert.deepEqual(await store.getAgent(ag.did), {
      ...ag,
      status: "active",
      statusChange: { ...resume, reason: undefined },
    });
    assert.equal(
      (await store.getToken(live.jti))?.revokedAt?.getTime(),
      at(100).getTime(),
    );

    // A token issued since is revoked when the agent is revoked.
    const later = token(ag, { issuedAt: at(250), expiresAt: at(1150) });
    await store.recordToken(later);
    assert.equal(
      await store.changeAgentStatus(ag.did, "revoked", {
        at: at(300),
        by: op.id,
        reason: "retired",
      }),
      1,
    );
    assert.equal(
      (await store.getToken(later.jti))?.revokeReason,
      "agent revoked",
    );
    assert.equal((await store.getAgent(ag.did))?.status, "revoked");
    assert.equal((await store.getAgent(neighbour.did))?.status, "active");

    // Revocation is final: no later change takes, and nothing else moves.
    for (const status of ["active", "suspended", "revoked"] as const) {
      assert.equal(
        await store.changeAgentStatus(ag.did, status, {
          at: at(400),
          by: op.id,
        }),
        undefined,
        status,
      );
    }
    assert.deepEqual((await store.getAgent(ag.did))?.statusChange, {
      at: at(300),
      by: op.id,
      reason: "retired",
    });
  });

  test(`agent status: a revocation racing ${RACERS} reactivations and suspensions stays final`, async (db) => {
    const { op, ag } = await world(db.store);
    const half = Math.floor(RACERS / 2);
    const results = await race(
      db,
      RACERS + 1,
      (store, i) =>
        store.changeAgentStatus(
          ag.did,
          i === half ? "revoked" : i % 2 ? "active" : "suspended",
          { at: at(10 + i), by: op.id },
        ),
    );
    assert.equal(typeof results[half], "number", "the revocation took");
    assert.equal((await db.store.getAgent(ag.did))?.status, "revoked");
  });

  test("key rotation: refused once the agent is suspended or revoked", async ({ store }) => {
    const { op, ag } = await world(store);
    const next = jwk();
    await store.changeAgentStatus(ag.did, "suspended", {
      at: at(1),
      by: op.id,
    });
    assert.equal(
      await store.rotateAgentKey(ag.did, ag.publicJwk, next, at(2)),
      false,
    );
    assert.deepEqual((await store.getAgent(ag.did))?.publicJwk, ag.publicJwk);
    await store.changeAgentStatus(ag.did, "active", { at: at(3), by: op.id });
    assert.equal(
      await store.rotateAgentKey(ag.did, ag.publicJwk, next, at(4)),
      true,
    );
  });

  // --- delegated tokens -----------------------------------------------------

  test("delegated tokens: issuance and get round-trip the subject and the parent", async ({ store }) => {
    const { agents: [subject, actor, next] } = await agents(store, 3);
    const root = token(subject!);
    await store.recordToken(root);
    assert.deepEqual(await store.getToken(root.jti), root);
    const child = delegated(actor!, root);
    assert.deepEqual(
      [child.clientId, child.subject, child.parentJti],
      [actor!.did, subject!.did, root.jti],
    );
    assert.equal(
      await store.recordIssuance(
        child,
        event({ actor: actor!.did, target: child.jti }),
        byJti(actor!.did, "jti-1"),
        actor!.publicJwk,
      ),
      "recorded",
    );
    assert.deepEqual(await store.getToken(child.jti), child);
    const grandchild = delegated(next!, child);
    await store.recordToken(grandchild);
    assert.deepEqual(await store.getToken(grandchild.jti), grandchild);
  });

  test('delegated tokens: an unknown parent is "parent_revoked", and nothing is written', async ({ store }) => {
    const { agents: [subject, actor] } = await agents(store, 2);
    const nonce = await tokenChallengeFor(store, actor!);
    const byChallenge = { challenge: nonce, subject: actor!.did, now: at(5) };
    const spent = byJti(actor!.did, "jti-1");
    // Its parent was never recorded.
    const orphan = delegated(actor!, token(subject!));
    for (const singleUse of [spent, byChallenge]) {
      assert.equal(
        await store.recordIssuance(
          orphan,
          event(),
          singleUse,
          actor!.publicJwk,
        ),
        "parent_revoked",
      );
    }
    assert.equal(await store.getToken(orphan.jti), undefined);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
    // Neither the jti nor the challenge was spent.
    assert.equal(
      await store.recordIssuance(
        token(actor!),
        event(),
        spent,
        actor!.publicJwk,
      ),
      "recorded",
    );
    assert.equal(await store.consumeSingleUse(byChallenge), true);
    // The agent's standing is checked first.
    await store.rotateAgentKey(actor!.did, actor!.publicJwk, jwk(), at(6));
    assert.equal(
      await store.recordIssuance(
        orphan,
        event(),
        byJti(actor!.did, "jti-2"),
        actor!.publicJwk,
      ),
      "rotated",
    );
  });

  test('delegated tokens: a parent revoked — itself, with its own parent, or by its agent\'s suspension — is "parent_revoked", and nothing is written', async ({ store }) => {
    const { op, agents: [subject, actor] } = await agents(store, 2);
    const root = token(subject!);
    const child = delegated(actor!, root);
    const sibling = delegated(actor!, root);
    for (const t of [root, child, sibling]) await store.recordToken(t);
    const refused = async (parent: TokenRecord, n: number) => {
      const t = delegated(actor!, parent);
      assert.equal(
        await store.recordIssuance(
          t,
          event(),
          byJti(actor!.did, `jti-${n}`),
          actor!.publicJwk,
        ),
        "parent_revoked",
      );
      assert.equal(await store.getToken(t.jti), undefined);
    };
    await store.revokeToken(child.jti, { at: at(20), by: op.id });
    await refused(child, 1);
    // The sibling is revoked with the root it was exchanged for.
    await store.revokeToken(root.jti, { at: at(30), by: op.id });
    await refused(sibling, 2);
    const later = token(subject!);
    await store.recordToken(later);
    await store.changeAgentStatus(subject!.did, "suspended", {
      at: at(40),
      by: op.id,
    });
    await refused(later, 3);
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
  });

  test("delegated tokens: revoking a token revokes every token delegated from it, in one write, and no other", async ({ store }) => {
    const { op, agents: [a, b, c] } = await agents(store, 3);
    const root = token(a!);
    const child = delegated(b!, root);
    const grandchild = delegated(c!, child);
    const revokedBefore = delegated(c!, child);
    const otherRoot = token(a!);
    const otherChild = delegated(b!, otherRoot);
    const otherGrandchild = delegated(c!, otherChild);
    const tree = [root, child, grandchild, revokedBefore];
    const otherTree = [otherRoot, otherChild, otherGrandchild];
    for (const t of [...tree, ...otherTree]) await store.recordToken(t);
    const early = { at: at(20), by: b!.did, reason: "early" };
    assert.equal(await store.revokeToken(revokedBefore.jti, early), true);

    const change = { at: at(30), by: op.id, reason: "leaked" };
    assert.equal(
      await store.revokeToken(
        root.jti,
        change,
        event({ action: "token.revoke", target: root.jti }),
      ),
      true,
    );
    const revoked = {
      revokedAt: at(30),
      revokedBy: op.id,
      revokeReason: "leaked",
    };
    for (const t of [root, child, grandchild]) {
      assert.deepEqual(await store.getToken(t.jti), { ...t, ...revoked });
    }
    // The first revocation is kept.
    assert.deepEqual(await store.getToken(revokedBefore.jti), {
      ...revokedBefore,
      revokedAt: at(20),
      revokedBy: b!.did,
      revokeReason: "early",
    });
    for (const t of otherTree) {
      assert.deepEqual(await store.getToken(t.jti), t);
    }
    assert.deepEqual(
      (await store.listAudit({ limit: 10 })).map((e) => e.target),
      [root.jti],
    );
    // Below the token revoked, never above.
    assert.equal(
      await store.revokeToken(otherChild.jti, { at: at(40), by: b!.did }),
      true,
    );
    assert.deepEqual(await store.getToken(otherRoot.jti), otherRoot);
    assert.deepEqual(
      (await store.getToken(otherGrandchild.jti))?.revokedAt,
      at(40),
    );
  });

  test("delegated tokens: suspending an agent revokes the live tokens others hold for it, and every token delegated from those", async ({ store }) => {
    const { op, agents: [a, b, c] } = await agents(store, 3);
    const own = token(a!, { expiresAt: at(1000) });
    const ownExpired = token(a!, { expiresAt: at(60) });
    // Live, though its parent is not: only its subject names a.
    const forA = delegated(b!, ownExpired, { expiresAt: at(1000) });
    const fromForA = delegated(c!, forA, { expiresAt: at(1000) });
    const forAExpired = delegated(b!, ownExpired, { expiresAt: at(60) });
    const bOwn = token(b!, { expiresAt: at(1000) });
    const untouched = [ownExpired, forAExpired, bOwn];
    const tokens = [own, forA, fromForA];
    for (const t of [...tokens, ...untouched]) await store.recordToken(t);

    assert.equal(
      await store.changeAgentStatus(a!.did, "suspended", {
        at: at(100),
        by: op.id,
      }),
      tokens.length,
    );
    for (const t of tokens) {
      assert.deepEqual(await store.getToken(t.jti), {
        ...t,
        revokedAt: at(100),
        revokedBy: op.id,
        revokeReason: "agent suspended",
      });
    }
    for (const t of untouched) {
      assert.deepEqual(await store.getToken(t.jti), t);
    }
    assert.equal((await store.getAgent(b!.did))?.status, "active");
    assert.equal((await store.getAgent(c!.did))?.status, "active");
  });

  test("delegated tokens: suspending an agent revokes the tokens it holds for others, and every token delegated from those", async ({ store }) => {
    const { op, agents: [a, b, c] } = await agents(store, 3);
    const root = token(a!);
    const held = delegated(b!, root);
    const fromHeld = delegated(c!, held);
    const bOwn = token(b!);
    const sibling = delegated(c!, root);
    const tokens = [held, fromHeld, bOwn];
    for (const t of [root, sibling, ...tokens]) await store.recordToken(t);

    assert.equal(
      await store.changeAgentStatus(b!.did, "revoked", {
        at: at(100),
        by: op.id,
      }),
      tokens.length,
    );
    for (const t of tokens) {
      assert.equal(
        (await store.getToken(t.jti))?.revokeReason,
        "agent revoked",
      );
    }
    assert.deepEqual(await store.getToken(root.jti), root);
    assert.deepEqual(await store.getToken(sibling.jti), sibling);
    assert.equal((await store.getAgent(a!.did))?.status, "active");
  });

  test(`delegated tokens: ${RACERS} revocations of overlapping trees at once all take`, async (db) => {
    const { op, agents: holders } = await agents(db.store, 4);
    // A chain through every holder, and a tree below each of its tokens.
    const chain = [token(holders[0]!)];
    for (let i = 1; i < 12; i++) {
      chain.push(delegated(holders[i % holders.length]!, chain.at(-1)!));
    }
    const leaves = chain.flatMap((t, i) =>
      [0, 1].map((n) => delegated(holders[(i + n) % holders.length]!, t))
    );
    for (const t of [...chain, ...leaves]) await db.store.recordToken(t);
    const change = { at: at(50), by: op.id };
    const results = await race<number | boolean | undefined>(
      db,
      RACERS,
      (store, i) =>
        i % 3 === 0
          ? store.changeAgentStatus(
            holders[(i / 3) % holders.length]!.did,
            "suspended",
            change,
          )
          : store.revokeToken(chain[(i * 7) % chain.length]!.jti, change),
    );
    assert.ok(results.every((r) => r !== undefined && r !== false));
    for (const t of [...chain, ...leaves]) {
      assert.deepEqual((await db.store.getToken(t.jti))?.revokedAt, at(50));
    }
  });

  const RACED = {
    root: "their root's revocation",
    subject: "their subject's suspension",
  } as const;
  for (const revocation of ["root", "subject"] as const) {
    test(`delegated tokens: ${RACERS} delegated issuances racing ${RACED[revocation]} → none left unrevoked`, async (db) => {
      const { op, agents: [a, b, c] } = await agents(db.store, 3);
      const root = token(a!);
      const child = delegated(b!, root);
      for (const t of [root, child]) await db.store.recordToken(t);
      const change = { at: at(50), by: op.id };
      const half = Math.floor(RACERS / 2);
      // Children of the root and of its child, so that a revocation meets
      // tokens delegated two levels down while it runs.
      const holder = (i: number) => i % 2 ? b! : c!;
      const outcomes = await race<
        IssuanceOutcome | boolean | number | undefined
      >(
        db,
        RACERS + 1,
        (store, i) =>
          i !== half
            ? store.recordIssuance(
              delegated(holder(i), i % 2 ? root : child, { jti: `race-${i}` }),
              event({ actor: holder(i).did }),
              byJti(holder(i).did, `race-${i}`),
              holder(i).publicJwk,
            )
            : revocation === "root"
            ? store.revokeToken(root.jti, change)
            : store.changeAgentStatus(a!.did, "suspended", change),
      );
      const recorded = outcomes.filter((outcome) => outcome === "recorded");
      assert.equal(
        recorded.length +
          outcomes.filter((o) => o === "parent_revoked").length,
        RACERS,
        JSON.stringify(outcomes),
      );
      // A suspension counts the root, its child and every token recorded.
      assert.equal(
        outcomes[half],
        revocation === "root" ? true : 2 + recorded.length,
      );
      for (let i = 0; i <= RACERS; i++) {
        if (i === half) continue;
        const stored = await db.store.getToken(`race-${i}`);
        if (outcomes[i] === "recorded") {
          assert.deepEqual(stored?.revokedAt, at(50), `race-${i}`);
        } else {
          assert.equal(stored, undefined, `race-${i}`);
        }
      }
    });
  }

  // --- status indexes and status lists ---------------------------------------

  test("status indexes: reservations are consecutive blocks from 0, never overlapping", async ({ store }) => {
    assert.equal(await store.reserveStatusIndexes(1), 0);
    assert.equal(await store.reserveStatusIndexes(10), 1);
    assert.equal(await store.reserveStatusIndexes(1_000_000), 11);
    assert.equal(await store.reserveStatusIndexes(5), 1_000_011);
    assert.equal(await store.reserveStatusIndexes(1), 1_000_016);
  });

  test(`status indexes: ${RESERVATIONS} reservations of random sizes at once never overlap and leave no gap`, async (db) => {
    const sizes = Array.from(
      { length: RESERVATIONS },
      () => 1 + Math.floor(Math.random() * 1000),
    );
    const firsts = await race(
      db,
      RESERVATIONS,
      (store, i) => store.reserveStatusIndexes(sizes[i]!),
    );
    const blocks = firsts.map((first, i) => ({ first, end: first + sizes[i]! }))
      .sort((a, b) => a.first - b.first);
    // Each block starts where the one before it ends: one contiguous range.
    let end = blocks[0]!.first;
    for (const block of blocks) {
      assert.equal(block.first, end, JSON.stringify(blocks));
      end = block.end;
    }
    const total = sizes.reduce((sum, size) => sum + size, 0);
    assert.equal(end - blocks[0]!.first, total);
    assert.equal(await db.store.reserveStatusIndexes(1), end);
  });

  test("status indexes: a count that is not an integer from 1 to 1,000,000 is refused, reserving nothing", async ({ store }) => {
    for (const count of [0, -1, 1.5, 1_000_001, NaN, Infinity]) {
      await assert.rejects(
        store.reserveStatusIndexes(count),
        (error) => {
          assert.ok(
            error instanceof Error && !(error instanceof Auth4AgentError),
            `expected a plain Error, got ${error}`,
          );
          assert.match(error.message, /status indexes/);
          return true;
        },
        String(count),
      );
    }
    assert.equal(await store.reserveStatusIndexes(1), 0);
  });

  test(
    "status indexes: a reservation survives reopening the database",
    async (db) => {
      assert.equal(await db.store.reserveStatusIndexes(7), 0);
      assert.equal(await db.store.reserveStatusIndexes(3), 7);
      await db.store.close();
      const reopened = await db.another();
      assert.equal(await reopened.reserveStatusIndexes(1), 10);
    },
    { reopen: true },
  );

  test("tokens: the status index round-trips through issuance and recordToken; absent stays absent", async ({ store }) => {
    const { ag } = await world(store);
    const issued = token(ag, { statusIdx: 42 });
    assert.equal(
      await store.recordIssuance(
        issued,
        event({ target: issued.jti }),
        byJti(ag.did, id("assertion")),
        ag.publicJwk,
      ),
      "recorded",
    );
    assert.deepEqual(await store.getToken(issued.jti), issued);
    // 0 is an index; one past 2^32 needs the BIGINT.
    for (const statusIdx of [0, 2 ** 33 + 5]) {
      const recorded = token(ag, { statusIdx });
      await store.recordToken(recorded);
      assert.deepEqual(await store.getToken(recorded.jti), recorded);
    }
    const without = token(ag);
    await store.recordToken(without);
    const read = await store.getToken(without.jti);
    assert.deepEqual(read, without);
    assert.equal(read?.statusIdx, undefined);
    const issuedWithout = token(ag);
    await store.recordIssuance(
      issuedWithout,
      event({ target: issuedWithout.jti }),
      byJti(ag.did, id("assertion")),
      ag.publicJwk,
    );
    assert.equal(
      (await store.getToken(issuedWithout.jti))?.statusIdx,
      undefined,
    );
  });

  test("status lists: the indexes in [from, to) of every revoked token — directly, by cascade, by suspension, expired or not — ascending, and no other", async ({ store }) => {
    const { op, agents: [a, b, c, d] } = await agents(store, 4);
    const big = 2 ** 33;
    // Revoked directly; revoked already when recorded, and expired.
    const direct = token(a!, { statusIdx: 7 });
    const expiredRevoked = token(b!, {
      statusIdx: 2,
      revokedAt: at(50),
      expiresAt: at(99),
    });
    const bigRevoked = token(a!, { statusIdx: big, revokedAt: at(60) });
    // Revoked with their parent.
    const root = token(a!, { statusIdx: 12 });
    const child = delegated(b!, root, { statusIdx: 5 });
    const grandchild = delegated(c!, child, { statusIdx: 20 });
    // Revoked by d's suspension: its own live token, and one held for it.
    const dOwn = token(d!, { statusIdx: 9, expiresAt: at(1000) });
    const forD = delegated(b!, dOwn, { statusIdx: 30, expiresAt: at(1000) });
    // Not revoked: expired before the suspension (past the clock leeway), or never.
    const dExpired = token(d!, { statusIdx: 15, expiresAt: at(60) });
    const unrevoked = [
      token(b!, { statusIdx: 0 }),
      token(c!, { statusIdx: 11 }),
      token(a!, { statusIdx: 40 }),
      token(a!, { statusIdx: big + 1 }),
      dExpired,
    ];
    // Revoked, without an index (issued before status lists).
    const unindexed = token(a!);
    for (
      const t of [
        direct,
        expiredRevoked,
        bigRevoked,
        root,
        child,
        grandchild,
        dOwn,
        forD,
        ...unrevoked,
        unindexed,
      ]
    ) await store.recordToken(t);
    assert.deepEqual(
      await store.listRevokedStatusIndexes(0, 2 * big),
      [2, big],
    );

    const change = { at: at(100), by: op.id };
    assert.equal(await store.revokeToken(direct.jti, change), true);
    assert.equal(await store.revokeToken(unindexed.jti, change), true);
    assert.equal(await store.revokeToken(root.jti, change), true);
    assert.equal(await store.changeAgentStatus(d!.did, "suspended", change), 2);

    assert.deepEqual(
      await store.listRevokedStatusIndexes(0, 2 * big),
      [2, 5, 7, 9, 12, 20, 30, big],
    );
    // From included, to excluded.
    assert.deepEqual(
      await store.listRevokedStatusIndexes(5, 20),
      [5, 7, 9, 12],
    );
    assert.deepEqual(
      await store.listRevokedStatusIndexes(6, 21),
      [7, 9, 12, 20],
    );
    assert.deepEqual(await store.listRevokedStatusIndexes(30, 31), [30]);
    assert.deepEqual(await store.listRevokedStatusIndexes(0, 2), []);
    assert.deepEqual(await store.listRevokedStatusIndexes(31, big), []);
    assert.deepEqual(
      await store.listRevokedStatusIndexes(big, big + 2),
      [big],
    );
    assert.deepEqual(await store.listRevokedStatusIndexes(9, 9), []);
  });

  // --- revocation list ------------------------------------------------------

  test("revocation list: an operator's inactive agents and its domain's revoked live tokens, newest first", async ({ store }) => {
    const { op, ag: active } = await world(store, "a.example");
    const suspended = agent(op);
    const revoked = agent(op);
    await store.createAgent(suspended);
    await store.createAgent(revoked);
    const { ag: foreign } = await world(store, "b.example");
    // Another operator registered for the same domain: its agents are not
    // this operator's to list.
    const { op: squatter, ag: squatted } = await world(store, "a.example");
    await store.changeAgentStatus(squatted.did, "revoked", {
      at: at(35),
      by: squatter.id,
      reason: "call +1 555 0100",
    });

    await store.changeAgentStatus(suspended.did, "suspended", {
      at: at(10),
      by: op.id,
    });
    await store.changeAgentStatus(revoked.did, "revoked", {
      at: at(20),
      by: op.id,
      reason: "gone",
    });
    await store.changeAgentStatus(foreign.did, "suspended", {
      at: at(30),
      by: "op-b",
    });

    const older = token(active, { expiresAt: at(2000) });
    const newer = token(active, { expiresAt: at(2000) });
    const expired = token(active, { expiresAt: at(500) });
    const unrevoked = token(active, { expiresAt: at(2000) });
    const foreignToken = token(foreign, { expiresAt: at(2000) });
    for (const t of [older, newer, expired, unrevoked, foreignToken]) {
      await store.recordToken(t);
    }
    await store.revokeToken(older.jti, { at: at(40), by: op.id });
    await store.revokeToken(newer.jti, { at: at(50), by: op.id });
    await store.revokeToken(expired.jti, { at: at(45), by: op.id });
    await store.revokeToken(foreignToken.jti, { at: at(60), by: "op-b" });

    const list = await store.listRevocations(op, at(600));
    assert.deepEqual(list.agents.map((a) => [a.did, a.status]), [
      [revoked.did, "revoked"],
      [suspended.did, "suspended"],
    ]);
    assert.deepEqual(list.agents[0], {
      ...revoked,
      status: "revoked",
      statusChange: { at: at(20), by: op.id, reason: "gone" },
    });
    assert.deepEqual(list.tokens.map((t) => t.jti), [newer.jti, older.jti]);
    assert.deepEqual(list.tokens[0], {
      ...newer,
      revokedAt: at(50),
      revokedBy: op.id,
      revokeReason: undefined,
    });
    // Expired tokens drop off the list.
    assert.deepEqual(
      (await store.listRevocations(op, at(2000))).tokens,
      [],
    );
    const other = { id: "op_none", domain: "c.example" };
    assert.deepEqual(await store.listRevocations(other, at(600)), {
      agents: [],
      tokens: [],
    });
  });

  // --- signing keys ---------------------------------------------------------

  test("signing keys: add, list newest first, retire the others atomically, replace material", async ({ store }) => {
    assert.deepEqual(await store.listSigningKeys(), []);
    const k1 = signingKey({ createdAt: at(1) });
    const k2 = signingKey({ createdAt: at(2) });
    await store.addSigningKey(k1);
    await store.addSigningKey(k2);
    assert.deepEqual(await store.listSigningKeys(), [k2, k1]);

    const k3 = signingKey({ createdAt: at(3) });
    await store.addSigningKey(k3, { retireOthersAt: at(3) });
    assert.deepEqual(await store.listSigningKeys(), [
      k3,
      { ...k2, retiredAt: at(3) },
      { ...k1, retiredAt: at(3) },
    ]);

    // A duplicate kid fails as a whole: nothing is retired.
    await assert.rejects(
      store.addSigningKey(signingKey({ kid: k3.kid, createdAt: at(4) }), {
        retireOthersAt: at(4),
      }),
      isDuplicate,
    );
    assert.equal((await store.listSigningKeys())[0]!.retiredAt, undefined);

    // A retired key may be added as such (imports).
    const old = signingKey({ createdAt: at(0.5), retiredAt: at(0.75) });
    await store.addSigningKey(old);
    assert.deepEqual((await store.listSigningKeys()).at(-1), old);

    await store.replaceSigningKeyMaterial(k2.kid, "encrypted:v1:abc");
    assert.deepEqual((await store.listSigningKeys())[1], {
      ...k2,
      privatePem: "encrypted:v1:abc",
      retiredAt: at(3),
    });
  });

  test("signing keys: a pending key signs from its activeFrom; retiring at an earlier time reaches keys retiring later", async ({ store }) => {
    const current = signingKey({ createdAt: at(1) });
    await store.addSigningKey(current);
    const pending = signingKey({ createdAt: at(2), activeFrom: at(100) });
    await store.addSigningKey(pending, { retireOthersAt: at(100) });
    assert.deepEqual(await store.listSigningKeys(), [
      pending,
      { ...current, retiredAt: at(100) },
    ]);
    // An immediate rotation at 10 retires both the current and the pending key then.
    const urgent = signingKey({ createdAt: at(10), activeFrom: at(10) });
    await store.addSigningKey(urgent, { retireOthersAt: at(10) });
    assert.deepEqual(await store.listSigningKeys(), [
      urgent,
      { ...pending, retiredAt: at(10) },
      { ...current, retiredAt: at(10) },
    ]);
  });

  test("signing keys: withdrawOthers sets every other key's token lifetime to 0, in the same write", async ({ store }) => {
    const older = signingKey({
      createdAt: at(1),
      retiredAt: at(2),
      tokenTtl: 900,
    });
    const current = signingKey({ createdAt: at(2), tokenTtl: 86_400 });
    await store.addSigningKey(older);
    await store.addSigningKey(current);
    const fresh = signingKey({
      createdAt: at(3),
      activeFrom: at(3),
      tokenTtl: 0,
    });
    await store.addSigningKey(fresh, {
      retireOthersAt: at(3),
      withdrawOthers: true,
    });
    assert.deepEqual(await store.listSigningKeys(), [
      fresh,
      { ...current, retiredAt: at(3), tokenTtl: 0 },
      { ...older, tokenTtl: 0 },
    ]);
  });

  test("signing keys: token lifetime only grows, and an unknown one stays unknown", async ({ store }) => {
    const fresh = signingKey({ tokenTtl: 0 });
    const unknown = signingKey({ createdAt: at(1) });
    await store.addSigningKey(fresh);
    await store.addSigningKey(unknown);
    const ttlOf = async (kid: string) =>
      (await store.listSigningKeys()).find((key) => key.kid === kid)!.tokenTtl;
    assert.equal(await ttlOf(fresh.kid), 0);
    assert.equal(await ttlOf(unknown.kid), undefined);
    await store.raiseSigningKeyTokenTtl(fresh.kid, 86_400);
    await store.raiseSigningKeyTokenTtl(fresh.kid, 900);
    await store.raiseSigningKeyTokenTtl(unknown.kid, 900);
    await store.raiseSigningKeyTokenTtl("no-such-kid", 900);
    assert.equal(await ttlOf(fresh.kid), 86_400);
    assert.equal(await ttlOf(unknown.kid), undefined);
  });

  // --- audit ----------------------------------------------------------------

  test("audit: a change and its entry are one write; a write that changes nothing appends none", async ({ store }) => {
    const entries = async () =>
      (await store.listAudit({ limit: 100 })).map((e) => e.action);
    const op = operator();
    await store.createOperator(op, event({ action: "operator.register" }));
    const rival = operator({ domain: op.domain });
    await store.createOperator(rival);
    assert.equal(
      await store.markOperatorVerified(op.id, at(1), event({ action: "v" })),
      true,
    );
    assert.equal(
      await store.markOperatorVerified(rival.id, at(2), event({ action: "x" })),
      false,
    );
    // Verified before: true, and nothing to audit.
    assert.equal(
      await store.markOperatorVerified(op.id, at(2), event({ action: "x" })),
      true,
    );
    const ag = agent(op);
    await store.createAgent(ag, event({ action: "agent.register" }));
    await assert.rejects(
      store.createAgent(ag, event({ action: "x" })),
      isDuplicate,
    );
    await store.setAgentScopes(ag.did, ["a"], at(3), event({ action: "g" }));
    const next = jwk();
    assert.equal(
      await store.rotateAgentKey(
        ag.did,
        next,
        jwk(),
        at(4),
        event({ action: "x" }),
      ),
      false,
    );
    assert.equal(
      await store.rotateAgentKey(
        ag.did,
        ag.publicJwk,
        next,
        at(4),
        event({ action: "k" }),
      ),
      true,
    );
    const t = token(ag);
    await store.recordToken(t);
    assert.equal(
      await store.revokeToken(
        "no-such",
        { at: at(5), by: op.id },
        event({ action: "x" }),
      ),
      false,
    );
    assert.equal(
      await store.revokeToken(
        t.jti,
        { at: at(5), by: op.id },
        event({ action: "r" }),
      ),
      true,
    );
    // Revoked before: true, the first revocation kept, nothing to audit.
    assert.equal(
      await store.revokeToken(
        t.jti,
        { at: at(6), by: ag.did },
        event({ action: "x" }),
      ),
      true,
    );
    assert.equal((await store.getToken(t.jti))?.revokedBy, op.id);
    const change = { at: at(6), by: op.id };
    assert.equal(
      await store.changeAgentStatus(
        ag.did,
        "revoked",
        change,
        event({ action: "s" }),
      ),
      0,
    );
    assert.equal(
      await store.changeAgentStatus(
        ag.did,
        "active",
        change,
        event({ action: "x" }),
      ),
      undefined,
    );
    assert.deepEqual(await entries(), [
      "operator.register",
      "v",
      "agent.register",
      "g",
      "k",
      "r",
      "s",
    ]);
    assert.ok(checkChain(await store.listAudit({ limit: 100 })).ok);
  });

  test("audit: text the database stores as U+FFFD (an unpaired surrogate) keeps the chain whole", async ({ store }) => {
    await store.appendAudit(event({ reason: "oops \ud800", target: "\udfff" }));
    await store.appendAudit(event({ reason: "after" }));
    const entries = await store.listAudit({ limit: 10 });
    assert.equal(entries[0]!.reason, "oops \ufffd");
    assert.deepEqual(checkChain(entries), {
      ok: true,
      entries: 2,
      lastHash: entries[1]!.hash,
      next: { expectedSeq: 3, prevHash: entries[1]!.hash },
    });
  });

  test("audit: entries round-trip in order, chained from the genesis hash, paged by afterSeq", async ({ store }) => {
    assert.deepEqual(await store.listAudit({ limit: 10 }), []);
    const events = [
      event({ at: at(1.5) }),
      event({
        at: at(2.5),
        actor: "op-1",
        action: "agent.suspend",
        outcome: "success",
        reason: "why",
      }),
      event({
        at: at(3.5),
        action: "token.deny",
        target: "",
        outcome: "denied",
        reason: "ERR_SCOPE_NOT_GRANTED",
      }),
    ];
    for (const e of events) await store.appendAudit(e);
    const entries = await store.listAudit({ limit: 10 });
    assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3]);
    entries.forEach((entry, i) => {
      const { seq: _seq, prevHash: _prev, hash: _hash, ...stored } = entry;
      assert.deepEqual(stored, events[i]);
    });
    assert.equal(entries[0]!.prevHash, GENESIS_HASH);
    assert.equal(entries[1]!.prevHash, entries[0]!.hash);
    assert.deepEqual(checkChain(entries).ok, true);

    assert.deepEqual(
      (await store.listAudit({ afterSeq: 1, limit: 1 })).map((e) => e.seq),
      [2],
    );
    assert.deepEqual(
      (await store.listAudit({ afterSeq: 1, limit: 10 })).map((e) => e.seq),
      [2, 3],
    );
    assert.deepEqual(await store.listAudit({ afterSeq: 3, limit: 10 }), []);
  });

  test(`audit: ${APPENDS} concurrent appends keep the chain linear and lose nothing`, async (db) => {
    const targets = Array.from({ length: APPENDS }, (_, i) => `target-${i}`);
    await race(
      db,
      APPENDS,
      (store, i) =>
        store.appendAudit(event({ at: at(i), target: targets[i]! })),
    );
    const entries = await db.store.listAudit({ limit: 1000 });
    const check = checkChain(entries);
    assert.equal(check.ok, true, JSON.stringify(check.broken));
    assert.equal(check.entries, APPENDS);
    assert.deepEqual(entries.map((e) => e.seq), targets.map((_, i) => i + 1));
    assert.deepEqual(entries.map((e) => e.target).sort(), [...targets].sort());
  });

  // --- durable ---------------------------------------------------------------

  test("durable: resolves once concurrent writes are acknowledged, with them readable", async ({ store }) => {
    const ops = Array.from({ length: RACERS }, () => operator());
    const writes = ops.map((op) => store.createOperator(op));
    await Promise.all([store.durable(), ...writes]);
    await store.durable();
    for (const op of ops) assert.deepEqual(await store.getOperator(op.id), op);
  });

  // --- ping and close ---------------------------------------------------------

  test("ping and close: ping answers; close is idempotent", async ({ store }) => {
    await store.ping();
    await store.close();
    await store.close();
  });

  // --- schema version (databases that can be reopened) ----------------------

  test("schema: reopening a database keeps its data", async (db) => {
    const { op } = await world(db.store);
    const reopened = await db.another();
    assert.deepEqual(await reopened.getOperator(op.id), op);
  }, { reopen: true });

  test(
    "schema: a database newer than the code refuses to open (ERR_CONFIG)",
    async (db) => {
      assert.ok(db.setSchemaVersion, "the backend must offer setSchemaVersion");
      await db.setSchemaVersion(SCHEMA_VERSION + 1);
      await assert.rejects(db.another(), isCode("ERR_CONFIG"));
      // Its own version opens again.
      await db.setSchemaVersion(SCHEMA_VERSION);
      await (await db.another()).ping();
    },
    { reopen: true },
  );
}
