/**
 * The store conformance suite on SQLite: in memory (one instance) and in a
 * temporary file (two instances on one file, reopening, schema versions);
 * and the upgrade of a version-1 database.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SCHEMA_VERSION } from "../../src/store/migrations.ts";
import {
  LIST_WORKLOAD_IDENTITIES,
  LIVE_FEDERATED_TOKENS,
  REVOKED_STATUS_INDEXES,
  SqliteStore,
} from "../../src/store/sqlite.ts";
import {
  REVOKE_AGENT_TOKENS,
  REVOKE_TOKEN,
  WORKLOAD_BOUND,
} from "../../src/store/sqlite_writes.ts";
import {
  assertV1Upgraded,
  V1_DATABASE,
  V1_DOMAIN,
} from "../helpers/schema_v1.ts";
import {
  assertUpgradedDelegates,
  assertUpgradedWorkloads,
  storeConformance,
} from "./conformance.ts";

/** The partial indexes of delegated tokens, and their columns. */
const DELEGATION_INDEXES = {
  tokens_parent: "parent_jti",
  tokens_subject: "subject",
};

storeConformance("sqlite (memory)", () =>
  Promise.resolve({
    store: new SqliteStore(":memory:"),
    cleanup: () => Promise.resolve(),
  }), { reopenable: false });

storeConformance("sqlite (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-store-test-" });
  const path = `${dir}/auth4agent.db`;
  return {
    store: new SqliteStore(path),
    openAnother: () => Promise.resolve().then(() => new SqliteStore(path)),
    setSchemaVersion: (version) => {
      const db = new DatabaseSync(path);
      try {
        db.prepare("UPDATE schema_version SET version = ?").run(version);
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

Deno.test("sqlite: a version-1 database upgrades in place; the revocation list's index holds revoked tokens only, the delegation indexes delegated tokens only, the status lists' index revoked tokens with a status index only; workload identities bind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-store-test-" });
  const path = `${dir}/auth4agent.db`;
  try {
    const raw = new DatabaseSync(path);
    for (const statement of V1_DATABASE) raw.exec(statement);
    raw.close();
    Deno.chmodSync(path, 0o600);

    const store = new SqliteStore(path);
    try {
      await assertV1Upgraded(store);
      await assertUpgradedDelegates(store, "live");
      await assertUpgradedWorkloads(store);
    } finally {
      await store.close();
    }

    const db = new DatabaseSync(path);
    try {
      const version = db.prepare("SELECT version FROM schema_version").get();
      assert.equal(version?.version, SCHEMA_VERSION);
      const index = db.prepare(
        "SELECT sql FROM sqlite_master WHERE name = 'tokens_revoked'",
      ).get();
      assert.match(String(index?.sql), /WHERE revoked_at IS NOT NULL$/);
      // Only the revoked token is in it, and the revocation list reads it.
      const inIndex = db.prepare(
        "SELECT count(*) AS n FROM tokens INDEXED BY tokens_revoked WHERE revoked_at IS NOT NULL",
      ).get();
      assert.equal(inIndex?.n, 1);
      const plan = db.prepare(
        "EXPLAIN QUERY PLAN SELECT * FROM tokens WHERE domain = ? AND revoked_at IS NOT NULL AND expires_at > ? ORDER BY revoked_at DESC LIMIT ?",
      ).all(V1_DOMAIN, 0, 1000).map((row) => String(row.detail)).join("\n");
      assert.match(plan, /USING INDEX tokens_revoked/);

      // Partial: of the three tokens, only the delegated one is in them.
      for (const [name, column] of Object.entries(DELEGATION_INDEXES)) {
        const sql = db.prepare(
          "SELECT sql FROM sqlite_master WHERE name = ?",
        ).get(name);
        assert.match(
          String(sql?.sql),
          new RegExp(`WHERE ${column} IS NOT NULL$`),
        );
        const indexed = db.prepare(
          `SELECT count(*) AS n FROM tokens INDEXED BY ${name} WHERE ${column} IS NOT NULL`,
        ).get();
        assert.equal(indexed?.n, 1, name);
      }
      // The revocations walk the tree by tokens_parent, and find an
      // agent's tokens by tokens_client and tokens_subject.
      const planOf = (sql: string) =>
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((row) =>
          String(row.detail)
        ).join("\n");
      const revokeToken = planOf(REVOKE_TOKEN);
      assert.match(
        revokeToken,
        /SEARCH t USING INDEX tokens_parent \(parent_jti=\?\)/,
      );
      assert.doesNotMatch(revokeToken, /SCAN tokens/);
      const revokeAgent = planOf(REVOKE_AGENT_TOKENS);
      assert.match(revokeAgent, /USING INDEX tokens_client \(client_id=\?\)/);
      assert.match(revokeAgent, /USING INDEX tokens_subject \(subject=\?\)/);
      assert.match(
        revokeAgent,
        /SEARCH t USING INDEX tokens_parent \(parent_jti=\?\)/,
      );
      assert.doesNotMatch(revokeAgent, /SCAN tokens/);

      // The federated tokens still live: through federated_tokens' expiry
      // index, each token by its key, never a scan of the tokens.
      const federated = planOf(
        LIVE_FEDERATED_TOKENS.replace("?", "0"),
      );
      assert.match(federated, /USING INDEX federated_tokens_expiry/);
      assert.doesNotMatch(federated, /SCAN t\b|SCAN tokens/);

      // Partial: the revoked token from before has no status index, so it
      // is not in it; a status list reads through it, already in order,
      // never scanning the tokens.
      const statusIndex = db.prepare(
        "SELECT sql FROM sqlite_master WHERE name = 'tokens_revoked_status'",
      ).get();
      assert.match(
        String(statusIndex?.sql),
        /WHERE revoked_at IS NOT NULL AND status_idx IS NOT NULL$/,
      );
      const inStatusIndex = db.prepare(
        "SELECT count(*) AS n FROM tokens INDEXED BY tokens_revoked_status WHERE revoked_at IS NOT NULL AND status_idx IS NOT NULL",
      ).get();
      assert.equal(inStatusIndex?.n, 0);
      const statusList = planOf(REVOKED_STATUS_INDEXES);
      assert.match(
        statusList,
        /SEARCH tokens USING (COVERING )?INDEX tokens_revoked_status \(status_idx>\? AND status_idx<\?\)/,
      );
      assert.doesNotMatch(statusList, /SCAN tokens|TEMP B-TREE/);

      // A workload's issuance finds its binding by the primary key; an
      // agent's list reads its rows only (sorting those few).
      assert.match(
        planOf(WORKLOAD_BOUND),
        /SEARCH workload_identities USING (COVERING )?INDEX sqlite_autoindex_workload_identities_1 \(agent_did=\? AND issuer=\? AND subject=\?\)/,
      );
      const workloads = planOf(LIST_WORKLOAD_IDENTITIES);
      assert.match(
        workloads,
        /SEARCH workload_identities USING INDEX sqlite_autoindex_workload_identities_1 \(agent_did=\?\)/,
      );
      assert.doesNotMatch(workloads, /SCAN workload_identities/);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
