/**
 * The store conformance suite on PostgreSQL, and what only a shared database
 * shows: instances migrating one database at once, two issuer apps on one
 * database (a challenge consumed exactly once across both, a token from one
 * active at the other), and `serve` / admin commands selecting PostgreSQL by
 * URL without ever logging its password.
 *
 * PostgreSQL comes from AUTH4AGENT_TEST_DATABASE_URL, or from a throwaway
 * cluster made from the local binaries (tests/helpers/postgres.ts); each test
 * uses a fresh schema. Without PostgreSQL the tests are skipped, except under
 * CI=true, where they fail.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { verifyAudit } from "../../src/serve/admin.ts";
import { describeDb, openStore } from "../../src/store/open.ts";
import { SCHEMA_VERSION } from "../../src/store/migrations.ts";
import {
  LIVE_FEDERATED_TOKENS,
  PostgresStore,
} from "../../src/store/postgres.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  findPostgres,
  inCi,
  type Schema,
  testPostgres,
} from "../helpers/postgres.ts";
import { cli, startServerProcess } from "../helpers/process.ts";
import { assertV1Upgraded, V1_DATABASE } from "../helpers/schema_v1.ts";
import {
  asCaller,
  assertOk,
  body,
  challengeNonce,
  Clock,
  createFixture,
  type Fixture,
  introspect,
  issueToken,
  postForm,
  revoke,
  setup,
  tokenParams,
} from "../serve/helpers.ts";
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

const source = findPostgres();
const ignore = source.kind === "missing" && !inCi();
if (ignore && source.kind === "missing") {
  console.warn(`SKIPPING the PostgreSQL store tests: ${source.reason}`);
}

/** Runs `body` on a fresh schema, dropped afterwards. */
async function withSchema(body: (schema: Schema) => Promise<void>) {
  const schema = await (await testPostgres(source)).freshSchema();
  try {
    await body(schema);
  } finally {
    await schema.drop();
  }
}

storeConformance("postgres", async () => {
  const schema = await (await testPostgres(source)).freshSchema();
  return {
    store: await PostgresStore.open(schema.url),
    openAnother: () => PostgresStore.open(schema.url),
    setSchemaVersion: schema.setSchemaVersion,
    cleanup: schema.drop,
  };
}, { ignore });

Deno.test({
  name: "postgres: PostgreSQL is available (required under CI=true)",
  ignore,
  async fn() {
    const pg = await testPostgres(source);
    const sql = postgres(pg.url, { max: 1 });
    try {
      const [row] =
        await sql`SELECT current_setting('server_version_num') AS v`;
      assert.ok(Number(row?.v) >= 120000, `PostgreSQL ${row?.v} is too old`);
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "postgres: instances opening one empty schema at once migrate it exactly once",
  ignore,
  async fn() {
    await withSchema(async (schema) => {
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.open(schema.url)),
      );
      try {
        const sql = postgres(schema.url, { max: 1 });
        try {
          const rows = await sql`SELECT version FROM schema_version`;
          assert.deepEqual(rows.map((r) => r.version), [SCHEMA_VERSION]);
        } finally {
          await sql.end();
        }
        await Promise.all(stores.map((store) => store.ping()));
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });
  },
});

Deno.test({
  name: "postgres: a search_path naming no schema is refused with ERR_CONFIG",
  ignore,
  async fn() {
    const pg = await testPostgres(source);
    const url = new URL(pg.url);
    url.searchParams.set("search_path", "a4a_no_such_schema");
    await assert.rejects(PostgresStore.open(url.toString()), (error) => {
      assert.equal((error as { code?: string }).code, "ERR_CONFIG");
      return true;
    });
  },
});

/** Two issuer apps, as two `serve` instances, on one schema; same clock and DNS. */
async function withTwoApps(
  body: (a: Fixture, b: Fixture) => Promise<void>,
) {
  await withSchema(async (schema) => {
    const clock = new Clock();
    const dns = new Map<string, string[][]>();
    // A starts first and makes the signing key; B finds it in the database.
    const a = await createFixture({
      store: await PostgresStore.open(schema.url),
      clock,
      dns,
    });
    try {
      const b = await createFixture({
        store: await PostgresStore.open(schema.url),
        clock,
        dns,
      });
      try {
        assert.equal(
          a.keys.signingKey(a.clock.now()).kid,
          b.keys.signingKey(b.clock.now()).kid,
        );
        await body(a, b);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });
}

Deno.test({
  name:
    "postgres: two apps on one database: a challenge issued by one is consumed exactly once across both",
  ignore,
  async fn() {
    await withTwoApps(async (a, b) => {
      const { agent } = await setup(a);
      const nonce = await challengeNonce(a, agent.did);
      const params = await tokenParams(a, agent, { nonce });
      const responses = await Promise.all(
        Array.from(
          { length: 25 },
          (_, i) => postForm(i % 2 ? b : a, "/oauth/token", params),
        ),
      );
      const outcomes = await Promise.all(responses.map(async (response) => ({
        status: response.status,
        code: (await body(response)).error_code,
      })));
      const ok = outcomes.filter((o) => o.status === 200);
      assert.equal(ok.length, 1, JSON.stringify(outcomes));
      for (const refused of outcomes.filter((o) => o.status !== 200)) {
        assert.deepEqual(refused, {
          status: 400,
          code: "ERR_CHALLENGE_INVALID",
        });
      }
    });
  },
});

Deno.test({
  name:
    "postgres: two apps on one database: a token issued by one introspects active on the other, and revocation spreads",
  ignore,
  async fn() {
    await withTwoApps(async (a, b) => {
      // Registered and verified through A; tokens from either, checked at the other.
      const { agent } = await setup(a);
      const fromA = await issueToken(a, agent);
      const token = await issueToken(b, agent);
      for (
        const [issuedBy, checkedBy, t] of [[a, b, fromA], [
          b,
          a,
          token,
        ]] as const
      ) {
        const active = await assertOk<{ active: boolean; sub: string }>(
          await introspect(checkedBy, t, asCaller(agent)),
        );
        assert.equal(
          active.active,
          true,
          `issued by ${issuedBy === a ? "A" : "B"}`,
        );
        assert.equal(active.sub, agent.did);
      }
      // Revoked through A, inactive at B.
      assert.equal((await revoke(a, token, asCaller(agent))).status, 200);
      const after = await assertOk<{ active: boolean }>(
        await introspect(b, token, asCaller(agent)),
      );
      assert.equal(after.active, false);
      // Both audit logs are one chain.
      const check = await verifyAudit(a.store);
      assert.equal(check.ok, true, JSON.stringify(check.broken));
      assert.ok(check.entries > 0);
    });
  },
});

Deno.test({
  name:
    "postgres: openStore picks PostgreSQL for postgres:// and postgresql:// URLs, SQLite for paths",
  ignore,
  async fn() {
    await withSchema(async (schema) => {
      for (const scheme of ["postgres:", "postgresql:"]) {
        const url = new URL(schema.url);
        url.protocol = scheme;
        const store = await openStore(url.toString());
        try {
          assert.ok(store instanceof PostgresStore);
          await store.ping();
        } finally {
          await store.close();
        }
      }
    });
    const dir = await Deno.makeTempDir({ prefix: "a4a-open-test-" });
    try {
      const store = await openStore(`${dir}/a.db`);
      assert.ok(store instanceof SqliteStore);
      await store.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "postgres: the store's transactions read committed, whatever the database's default",
  ignore,
  fn: async () => {
    await withSchema(async (schema) => {
      // A default of REPEATABLE READ (from the URL here; a database or role
      // default set by a DBA acts the same).
      const url = new URL(schema.url);
      url.searchParams.set("default_transaction_isolation", "repeatable read");
      const [a, b] = [
        await PostgresStore.open(url.href),
        await PostgresStore.open(url.href),
      ];
      try {
        // Appends from two instances at once: each must read the head the
        // other committed, after taking the chain's lock.
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? a : b).appendAudit({
              at: new Date(),
              actor: "x",
              action: "test",
              target: `t${i}`,
              outcome: "success",
            })),
        );
        assert.deepEqual(
          results.filter((r) => r.status === "rejected"),
          [],
        );
        assert.ok((await verifyAudit(a)).ok);
        // Reservations from both at once: each must add to the counter the
        // other committed (under REPEATABLE READ the second would fail).
        const firsts = await Promise.allSettled(
          Array.from(
            { length: 20 },
            (_, i) => (i % 2 ? a : b).reserveStatusIndexes(10),
          ),
        );
        assert.deepEqual(
          firsts.filter((r) => r.status === "rejected"),
          [],
        );
        assert.deepEqual(
          firsts.map((r) => r.status === "fulfilled" && r.value)
            .sort((x, y) => Number(x) - Number(y)),
          Array.from({ length: 20 }, (_, i) => i * 10),
        );
      } finally {
        await a.close();
        await b.close();
      }
    });
  },
});

Deno.test("postgres: an unparsable URL's password is not in the error", async () => {
  for (
    const url of [
      "postgres://issuer:sec#ret@127.0.0.1:1/a4a",
      "postgres://issuer:se/cret@127.0.0.1:1/a4a",
    ]
  ) {
    const error = await openStore(url).then(() => undefined, (e) => e);
    assert.ok(error instanceof Error, url);
    assert.ok(!String(error.message).includes("cret"), error.message);
    assert.ok(!String(error.stack).includes("cret"), error.stack);
  }
});

Deno.test("postgres: describeDb masks a URL's password and leaves paths alone", () => {
  assert.equal(
    describeDb(
      "postgres://issuer:s3cr%2Fet@db.example:5432/a4a?sslmode=require",
    ),
    "postgres://issuer:***@db.example:5432/a4a?sslmode=require",
  );
  assert.equal(
    describeDb("postgresql://issuer@db.example/a4a"),
    "postgresql://issuer@db.example/a4a",
  );
  assert.equal(describeDb("./auth4agent.db"), "./auth4agent.db");
  assert.ok(!describeDb("postgres://u:hunter2@[bad/x").includes("hunter2"));
});

Deno.test({
  name:
    "postgres: `serve --db postgres://…` and `audit verify --db postgres://…` use PostgreSQL and never print the password",
  ignore,
  async fn() {
    await withSchema(async (schema) => {
      // The throwaway cluster trusts local connections, so any password works;
      // a database from AUTH4AGENT_TEST_DATABASE_URL keeps its own.
      const url = new URL(schema.url);
      const password = url.password || "pw-never-logged";
      url.password = password;
      const server = await startServerProcess(["--db", url.toString()]);
      let log: string;
      try {
        const health = await fetch(`${server.issuer}/healthz`);
        assert.equal(health.status, 200, await health.text());
      } finally {
        assert.equal(await server.stop(), 0);
        log = server.log();
      }
      assert.ok(!log.includes(password), log);
      assert.match(log, /"db":"postgres(ql)?:\/\/[^"]*:\*\*\*@/);

      const home = await Deno.makeTempDir({ prefix: "a4a-home-" });
      try {
        const result = await cli(["audit", "verify", "--db", url.toString()], {
          home,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.ok(!result.stdout.includes(password));
        assert.ok(!result.stderr.includes(password));
      } finally {
        await Deno.remove(home, { recursive: true });
      }
    });
  },
});

Deno.test({
  name:
    "postgres: a version-1 schema upgrades in place; the revocation list's index holds revoked tokens only, the delegation indexes delegated tokens only, the status lists' index revoked tokens with a status index only; workload identities bind",
  ignore,
  async fn() {
    await withSchema(async (schema) => {
      const sql = postgres(schema.url, { max: 1, onnotice: () => {} });
      try {
        for (const statement of V1_DATABASE) await sql.unsafe(statement);
        const store = await PostgresStore.open(schema.url);
        try {
          await assertV1Upgraded(store);
          await assertUpgradedDelegates(store, "live");
          await assertUpgradedWorkloads(store);
        } finally {
          await store.close();
        }
        const [index] = await sql`
          SELECT indexdef FROM pg_indexes
          WHERE schemaname = current_schema() AND indexname = 'tokens_revoked'`;
        assert.match(
          String(index?.indexdef),
          /WHERE \(revoked_at IS NOT NULL\)$/,
        );
        for (const [name, column] of Object.entries(DELEGATION_INDEXES)) {
          const [partial] = await sql`
            SELECT indexdef FROM pg_indexes
            WHERE schemaname = current_schema() AND indexname = ${name}`;
          assert.match(
            String(partial?.indexdef),
            new RegExp(`WHERE \\(${column} IS NOT NULL\\)$`),
          );
        }
        const [status] = await sql`
          SELECT indexdef FROM pg_indexes
          WHERE schemaname = current_schema()
            AND indexname = 'tokens_revoked_status'`;
        assert.match(
          String(status?.indexdef),
          /WHERE \(\(revoked_at IS NOT NULL\) AND \(status_idx IS NOT NULL\)\)$/,
        );
        // A status list can read it alone (the planner prefers a scan of a
        // table this small, hence enable_seqscan off).
        await sql`SET enable_seqscan = off`;
        const plan = await sql.unsafe(
          `EXPLAIN SELECT status_idx FROM tokens
           WHERE revoked_at IS NOT NULL AND status_idx IS NOT NULL
             AND status_idx >= $1 AND status_idx < $2
           ORDER BY status_idx`,
          [0, 1000],
        );
        const lines = plan.map((row) => String(row["QUERY PLAN"])).join("\n");
        assert.match(lines, /Index Only Scan using tokens_revoked_status/);
        // The federated tokens still live: each one's token by its key,
        // whatever the planner would prefer (seqscan allowed again).
        await sql`SET enable_seqscan = on`;
        const federated = (await sql.unsafe(
          `EXPLAIN ${LIVE_FEDERATED_TOKENS}`,
          [0],
        )).map((row) => String(row["QUERY PLAN"])).join("\n");
        // (Tables this small are scanned either way: what matters is that
        // the tokens are reached per live row, never joined wholesale.)
        assert.match(federated, /Nested Loop/);
        assert.match(federated, /jti = f\.jti/);
        assert.doesNotMatch(federated, /Hash Join|Merge Join/);
      } finally {
        await sql.end();
      }
    });
  },
});
