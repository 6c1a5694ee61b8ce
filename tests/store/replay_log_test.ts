/**
 * The SQLite store's replay cache (src/store/replay_log.ts,
 * replay_memory.ts): the memory of uses in force, and the log that keeps
 * every server on one file, and every restart, judging alike.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ReplayMemory } from "../../src/store/replay_memory.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);

const use = (clientId: string, jti: string, expires = 300) => ({
  clientId,
  jti,
  expiresAt: at(expires),
});

Deno.test("replay memory: what was added is found, nothing else; client and jti cannot be shifted into each other", () => {
  const memory = new ReplayMemory();
  memory.add(memory.key("ab", "c"), at(300));
  assert.equal(memory.has(memory.key("ab", "c")), true);
  assert.equal(memory.has(memory.key("a", "bc")), false);
  assert.equal(memory.has(memory.key("abc", "")), false);
  assert.equal(memory.has(memory.key("ab", "C")), false);
});

Deno.test("replay memory: 200,000 uses through its growth are all found, and 200,000 others are not", () => {
  const memory = new ReplayMemory();
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    memory.add(memory.key(`client-${i % 64}`, `jti-${i}`), at(300));
  }
  let found = 0;
  let strangers = 0;
  for (let i = 0; i < n; i++) {
    if (memory.has(memory.key(`client-${i % 64}`, `jti-${i}`))) found++;
    if (memory.has(memory.key(`client-${i % 64}`, `other-${i}`))) strangers++;
  }
  assert.equal(found, n);
  assert.equal(strangers, 0);
});

Deno.test("replay memory: uses expired by a sweep's time are forgotten at once, and dropped when the table grows", () => {
  const memory = new ReplayMemory();
  for (let i = 0; i < 400; i++) {
    memory.add(memory.key("client", `old-${i}`), at(100));
  }
  memory.add(memory.key("client", "live"), at(200));
  memory.forgetExpired(at(100));
  assert.equal(memory.has(memory.key("client", "old-7")), false);
  assert.equal(memory.has(memory.key("client", "live")), true);
  // Added already expired: not kept.
  memory.add(memory.key("client", "late"), at(50));
  assert.equal(memory.has(memory.key("client", "late")), false);
  // Growth rebuilds the table with the live uses only.
  for (let i = 0; i < 600; i++) {
    memory.add(memory.key("client", `new-${i}`), at(300));
  }
  assert.equal(memory.size, 601);
  assert.equal(memory.has(memory.key("client", "live")), true);
  assert.equal(memory.has(memory.key("client", "new-599")), true);
});

async function withFile(
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-replay-" });
  try {
    await fn(`${dir}/store.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("replay log: two stores on one file judge alike, whichever used the jti first", async () => {
  await withFile(async (path) => {
    const a = new SqliteStore(path);
    const b = new SqliteStore(path);
    try {
      assert.equal(await a.consumeSingleUse(use("client", "j1")), true);
      assert.equal(await b.consumeSingleUse(use("client", "j1")), false);
      assert.equal(await b.consumeSingleUse(use("client", "j2")), true);
      assert.equal(await a.consumeSingleUse(use("client", "j2")), false);
      assert.equal(await a.consumeSingleUse(use("other", "j2")), true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("replay log: a sweep that empties the log does not let a server miss what another appends next (seq only grows)", async () => {
  await withFile(async (path) => {
    const a = new SqliteStore(path);
    const b = new SqliteStore(path);
    try {
      assert.equal(await a.consumeSingleUse(use("client", "j1", 100)), true);
      assert.equal(await b.consumeSingleUse(use("client", "j2", 100)), true);
      // A sweeps the whole log away; then appends j3.
      assert.equal(await a.sweep(at(100)), 2);
      assert.equal(await a.consumeSingleUse(use("client", "j3")), true);
      // B, which saw the log before, must still take in j3.
      assert.equal(await b.consumeSingleUse(use("client", "j3")), false);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("replay log: a store opened again remembers every use written, and those of the replay table of earlier versions", async () => {
  await withFile(async (path) => {
    const first = new SqliteStore(path);
    assert.equal(await first.consumeSingleUse(use("client", "j1")), true);
    await first.close();
    // A use an earlier version wrote to its replay table, still in force.
    const raw = new DatabaseSync(path);
    raw.prepare(
      "INSERT INTO replay (client_id, jti, expires_at) VALUES (?, ?, ?)",
    ).run("client", "legacy", at(300).getTime());
    raw.close();
    const again = new SqliteStore(path);
    try {
      assert.equal(await again.consumeSingleUse(use("client", "j1")), false);
      assert.equal(
        await again.consumeSingleUse(use("client", "legacy")),
        false,
      );
      assert.equal(await again.consumeSingleUse(use("client", "j2")), true);
      // Swept with the rest once expired.
      assert.equal(await again.sweep(at(300)), 3);
      assert.equal(
        await again.consumeSingleUse(use("client", "legacy", 400)),
        true,
      );
    } finally {
      await again.close();
    }
  });
});
