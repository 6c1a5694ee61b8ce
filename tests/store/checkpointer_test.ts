/**
 * The WAL stays bounded under sustained writes (src/store/sqlite_checkpointer.ts):
 * passive checkpoints alone never catch up while the writer keeps appending,
 * and the WAL grew without end (570 MB in 10 s of the benchmark's load).
 */
import assert from "node:assert/strict";
import { randomToken } from "../../src/core/encoding.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

/** Far above the ~32 MB at which the checkpointer starts the WAL over, far below unbounded growth. */
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
const LOAD_MS = 3_000;
const CONCURRENCY = 32;

Deno.test("checkpointer: the WAL stays bounded while writes never stop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-checkpointer-" });
  const path = `${dir}/auth4agent.db`;
  const store = new SqliteStore(path);
  try {
    const end = Date.now() + LOAD_MS;
    let written = 0;
    let largestWal = 0;
    const worker = async () => {
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
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const megabytes = (largestWal / 1024 / 1024).toFixed(1);
    assert.ok(written > 2_000, `only ${written} writes: the writer was held`);
    assert.ok(
      largestWal < WAL_LIMIT_BYTES,
      `the WAL reached ${megabytes} MB during ${written} writes`,
    );
    // Nothing was lost on the way.
    const reopened = new SqliteStore(path);
    await reopened.close();
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
