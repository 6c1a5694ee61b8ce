/**
 * The SQLite store's cache of agent standings: what it keeps, what empties
 * it, and that a read racing a write is not served after that write's commit.
 * (The conformance suite checks, on every store, that a standing follows
 * each change made through the same instance or another.)
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  STANDING_NEUTRAL_WRITES,
  StandingCache,
} from "../../src/store/standing_cache.ts";
import { WRITES } from "../../src/store/sqlite_writes.ts";
import type { AgentStanding } from "../../src/store/store.ts";
import { world } from "./conformance.ts";

const at = new Date("2026-01-01T00:00:00Z");

function standing(did: string): AgentStanding {
  const jwk = { kty: "OKP" as const, crv: "Ed25519" as const, x: "x" };
  return {
    agent: {
      did,
      domain: "example.com",
      operatorId: "op",
      publicJwk: { ...jwk },
      createdAt: at,
      status: "active",
      statusChange: undefined,
    },
    operator: {
      id: "op",
      domain: "example.com",
      publicJwk: { ...jwk },
      thumbprint: "t",
      dnsChallenge: "c",
      createdAt: at,
      verifiedAt: at,
    },
    grant: { scopes: ["read:data"], updatedAt: at },
  };
}

/** A cache over a data_version the test moves, counting the reads it makes. */
function cacheUnderTest(max?: number) {
  const state = { version: 1, reads: 0 };
  const cache = new StandingCache(() => state.version, max);
  const get = (did: string) =>
    cache.get(did, () => {
      state.reads++;
      return standing(did);
    });
  return { cache, state, get };
}

Deno.test("standing cache: kept until data_version moves or a write that is not neutral commits", () => {
  const { cache, state, get } = cacheUnderTest();
  const first = get("did:a");
  assert.equal(get("did:a"), first);
  assert.equal(state.reads, 1);
  cache.committed(["recordIssuance", "consumeSingleUse", "sweep"]);
  assert.equal(get("did:a"), first);
  assert.equal(state.reads, 1);
  state.version++; // another connection committed
  assert.notEqual(get("did:a"), first);
  assert.equal(state.reads, 2);
  cache.committed(["recordIssuance", "changeAgentStatus"]);
  get("did:a");
  assert.equal(state.reads, 3);
});

Deno.test("standing cache: unknown agents are not kept, and the cache is bounded", () => {
  const { cache, state, get } = cacheUnderTest(2);
  let misses = 0;
  for (let i = 0; i < 2; i++) {
    assert.equal(
      cache.get("did:nobody", () => (misses++, undefined)),
      undefined,
    );
  }
  assert.equal(misses, 2);
  get("did:a");
  get("did:b");
  get("did:c"); // evicts did:a, the oldest
  assert.equal(state.reads, 3);
  get("did:c");
  get("did:b");
  assert.equal(state.reads, 3);
  get("did:a");
  assert.equal(state.reads, 4);
});

Deno.test("standing cache: a kept standing cannot be changed in place", () => {
  const { get } = cacheUnderTest();
  const kept = get("did:a")!;
  assert.throws(() => {
    (kept.agent as { status: string }).status = "active";
  }, TypeError);
  assert.throws(() => {
    (kept.grant!.scopes as string[]).push("admin");
  }, TypeError);
  assert.throws(() => {
    (kept.operator.publicJwk as { x: string }).x = "other";
  }, TypeError);
});

Deno.test("standing cache: every neutral write is a store write", () => {
  for (const name of STANDING_NEUTRAL_WRITES) assert.ok(name in WRITES, name);
});

Deno.test("sqlite store: a standing read while a suspension waits for its commit is not served after it", async () => {
  const store = new SqliteStore(":memory:");
  try {
    const { op, ag: { did } } = await world(store);
    const suspended = store.changeAgentStatus(did, "suspended", {
      at,
      by: op.id,
      reason: "test",
    });
    // Submitted, not committed yet (the batch commits on the next turn).
    assert.equal((await store.getAgentStanding(did))?.agent.status, "active");
    assert.equal(await suspended, 0); // live tokens revoked: none
    assert.equal(
      (await store.getAgentStanding(did))?.agent.status,
      "suspended",
    );
  } finally {
    await store.close();
  }
});
