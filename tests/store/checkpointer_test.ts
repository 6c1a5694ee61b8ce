/**
 * The WAL stays bounded under sustained writes (src/store/sqlite_checkpointer.ts):
 * passive checkpoints alone never catch up while the writer keeps appending,
 * and the WAL grew without end (570 MB in 10 s of the benchmark's load; with
 * two instances on one file, 934 MB in 4 s even with the writer held).
 */
import assert from "node:assert/strict";
import { randomToken } from "../../src/core/encoding.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

/**
 * Far above where the checkpointer starts the WAL over (~32 MB; measured
 * highs: 35 MB with one store, 72 MB with two), far below unbounded growth
 * (683 and 934 MB in these tests' time).
 */
const WAL_LIMIT_MB = { 1: 96, 2: 256 } as const;
const LOAD_MS = 3_000;
const CONCURRENCY = 32;

for (const instances of [1, 2] as const) {
  Deno.test(`checkpointer: the WAL stays bounded while writes never stop (${instances} store${instances > 1 ? "s" : ""} on one file)`, async () => {
    await sustainedWrites(instances);
  });
}

/** Writes from CONCURRENCY workers over `instances` stores on one file for LOAD_MS. */
async function sustainedWrites(instances: 1 | 2): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-checkpointer-" });
  const path = `${dir}/auth4agent.db`;
  // Two instances: a hold reaches only its own writer; the other one's
  // commits must be waited out by the final pass (RESTART).
  const stores = Array.from({ length: instances }, () => new SqliteStore(path));
  try {
    const end = Date.now() + LOAD_MS;
    let written = 0;
    let largestWal = 0;
    const worker = async (store: SqliteStore) => {
      while (Date.now() < end) {
        const now = new Date();
        // Random keys, as tokens have: each write dirties pages all over the tree.
        await store.recordToken({
          jti: randomToken(16),
          clientId: `did:agent:example.com:${randomToken(16)}`,
          domain: "example.com",
          audience: "https://api.example.com",
          scope: "read:payments write:payments",
          issuedAt: now,
          expiresAt: new Date(now.getTime() + 900_000),
        });
        written++;
        largestWal = Math.max(
          largestWal,
          (await Deno.stat(`${path}-wal`)).size,
        );
      }
    };
    await Promise.all(
      Array.from(
        { length: CONCURRENCY },
        (_, i) => worker(stores[i % stores.length]!),
      ),
    );
    const megabytes = (largestWal / 1024 / 1024).toFixed(1);
    assert.ok(written > 2_000, `only ${written} writes: the writer was held`);
    assert.ok(
      largestWal < WAL_LIMIT_MB[instances] * 1024 * 1024,
      `the WAL reached ${megabytes} MB during ${written} writes`,
    );
    // Nothing was lost on the way.
    const reopened = new SqliteStore(path);
    await reopened.close();
  } finally {
    for (const store of stores) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}
