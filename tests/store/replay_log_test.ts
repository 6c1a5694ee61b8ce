/**
 * The SQLite store's replay cache (src/store/replay_log.ts,
 * replay_memory.ts): the memory of uses in force, and the log that keeps
 * every server on one file, and every restart, judging alike.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { GroupCommit } from "../../src/store/group_commit.ts";
import { DuplicateError } from "../../src/store/store.ts";
import { MIGRATIONS } from "../../src/store/migrations.ts";
import { ReplayMemory } from "../../src/store/replay_memory.ts";
import { SqliteConnection } from "../../src/store/sqlite_connection.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  issuance,
  ISSUING_DID,
  issuingConnection,
} from "./issuance_fixture.ts";

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

Deno.test("replay log: a store opened again remembers every use written", async () => {
  await withFile(async (path) => {
    const first = new SqliteStore(path);
    assert.equal(await first.consumeSingleUse(use("client", "j1")), true);
    await first.close();
    // A server's store reads the log when it opens; another at its first use.
    const again = new SqliteStore(path, { serving: true });
    const other = new SqliteStore(path);
    try {
      assert.equal(await other.consumeSingleUse(use("client", "j1")), false);
      assert.equal(await again.consumeSingleUse(use("client", "j1")), false);
      assert.equal(await again.consumeSingleUse(use("client", "j2")), true);
      assert.equal(await other.consumeSingleUse(use("client", "j2")), false);
    } finally {
      await again.close();
      await other.close();
    }
  });
});

Deno.test("replay log: migration 8 moves the uses in force of the replay table into the log, and retires the table (a server of an earlier version on the file fails closed)", async () => {
  await withFile(async (path) => {
    // A database of schema 7 with a use in force in its replay table.
    const raw = new DatabaseSync(path);
    await Deno.chmod(path, 0o600);
    for (const migration of MIGRATIONS.slice(0, 7)) raw.exec(migration);
    raw.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    raw.exec("INSERT INTO schema_version (version) VALUES (7)");
    const insertOld = raw.prepare(
      "INSERT INTO replay (client_id, jti, expires_at) VALUES (?, ?, ?)",
    );
    insertOld.run("client", "before", at(300).getTime());
    insertOld.run("client", "before-2", at(300).getTime());
    const store = new SqliteStore(path);
    try {
      assert.equal(
        await store.consumeSingleUse(use("client", "before")),
        false,
      );
      assert.equal(
        await store.consumeSingleUse(use("client", "before-2")),
        false,
      );
      assert.equal(await store.consumeSingleUse(use("client", "after")), true);
      // The earlier version's write of a use is refused, not lost.
      assert.throws(
        () => insertOld.run("client", "old-server", at(300).getTime()),
        /retired by schema 8/,
      );
    } finally {
      await store.close();
      raw.close();
    }
  });
});

Deno.test("replay log: a batch whose every use was undone leaves no seq this server counts as seen but another may take", async () => {
  await withFile(async (path) => {
    const c1 = issuingConnection(path);
    const c2 = new SqliteConnection(path);
    c2.migrate();
    const w1 = new GroupCommit(c1);
    const w2 = new GroupCommit(c2);
    try {
      const issue = (tokenJti: string, assertionJti: string) =>
        w1.submit("recordIssuance", [...issuance(tokenJti, assertionJti)]);
      assert.equal(await issue("t1", "x"), "recorded");
      // Alone in its batch: it consumes its jti, then fails on the token id
      // t1 took; its use is undone, and so is every use of the batch.
      await assert.rejects(issue("t1", "undone"), DuplicateError);
      // The other server appends next; this one must take it in.
      const consume = (w: GroupCommit, jti: string) =>
        w.submit("consumeSingleUse", [use(ISSUING_DID, jti)]);
      assert.equal(await consume(w2, "y"), true);
      assert.equal(await consume(w1, "y"), false);
      assert.equal(await consume(w1, "undone"), true);
    } finally {
      await w1.close();
      await w2.close();
      c1.close();
      c2.close();
    }
  });
});

Deno.test("replay log: a use that expires by what a sweep forgot is refused, not remembered", async () => {
  await withFile(async (path) => {
    const store = new SqliteStore(path);
    try {
      await store.sweep(at(100));
      assert.equal(
        await store.consumeSingleUse(use("client", "late", 100)),
        false,
      );
      assert.equal(
        await store.consumeSingleUse(use("client", "live", 101)),
        true,
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("replay log: what one server's sweep forgot, no other server takes again", async () => {
  await withFile(async (path) => {
    const a = new SqliteStore(path);
    const b = new SqliteStore(path);
    try {
      assert.equal(await a.consumeSingleUse(use("client", "j", 100)), true);
      // B has not looked at the log since before j; A sweeps j away.
      assert.equal(await a.sweep(at(100)), 1);
      assert.equal(await b.consumeSingleUse(use("client", "j", 100)), false);
      assert.equal(await a.consumeSingleUse(use("client", "j", 100)), false);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
