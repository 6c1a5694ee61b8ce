/**
 * Durability off the event loop (src/store/wal_sync.ts, group_commit.ts): a
 * write is acknowledged only after a sync that started after its COMMIT, a
 * failed sync stops every later acknowledgement, and the file store really
 * hands the syncing to CommitSync (synchronous=NORMAL on its connection).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { GroupCommit } from "../../src/store/group_commit.ts";
import { SqliteConnection } from "../../src/store/sqlite_connection.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { CommitSync, FileSyncer } from "../../src/store/wal_sync.ts";

/** A sync the test finishes by hand: `syncs` holds one entry per sync started. */
function manualSync() {
  const syncs: { finish: () => void; fail: (error: Error) => void }[] = [];
  const sync = () =>
    new Promise<void>((finish, fail) => syncs.push({ finish, fail }));
  return { syncs, sync };
}

/** Lets pending promise callbacks (and setImmediate) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Tracks whether a promise has settled, and how. */
function watch<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error) => Object.assign(state, { done: true, error }),
  );
  return state;
}

Deno.test("wal sync: durable() is immediate when nothing was committed", async () => {
  const { syncs, sync } = manualSync();
  const commits = new CommitSync(sync);
  await commits.durable();
  assert.equal(syncs.length, 0);
});

Deno.test("wal sync: a commit is durable only after a sync that started after it", async () => {
  const { syncs, sync } = manualSync();
  const commits = new CommitSync(sync);
  commits.committed();
  const first = watch(commits.durable());
  await settle();
  assert.equal(syncs.length, 1);
  // A commit made while the first sync runs is not covered by it.
  commits.committed();
  const second = watch(commits.durable());
  syncs[0]!.finish();
  await settle();
  assert.equal(first.done, true);
  assert.equal(second.done, false, "covered only by the next sync");
  assert.equal(syncs.length, 2);
  syncs[1]!.finish();
  await settle();
  assert.equal(second.done, true);
  assert.equal(syncs.length, 2, "no sync without a new commit");
});

Deno.test("wal sync: commits made during one sync share the next", async () => {
  const { syncs, sync } = manualSync();
  const commits = new CommitSync(sync);
  commits.committed();
  const waiting = [watch(commits.durable())];
  await settle();
  for (let i = 0; i < 5; i++) {
    commits.committed();
    waiting.push(watch(commits.durable()));
  }
  syncs[0]!.finish();
  await settle();
  syncs[1]!.finish();
  await settle();
  assert.equal(syncs.length, 2);
  assert.ok(waiting.every((w) => w.done && w.error === undefined));
});

Deno.test("wal sync: a failed sync rejects the waiting callers and every later one", async () => {
  const { syncs, sync } = manualSync();
  const commits = new CommitSync(sync);
  commits.committed();
  const waiting = watch(commits.durable());
  await settle();
  syncs[0]!.fail(new Error("EIO"));
  await settle();
  assert.match(String(waiting.error), /write-ahead log failed.*EIO/);
  // Even with nothing new committed, nothing can be acknowledged any more.
  await assert.rejects(commits.durable(), /restart the server/);
  commits.committed();
  await assert.rejects(commits.durable(), /restart the server/);
  assert.equal(syncs.length, 1);
});

Deno.test("group commit: writes and refusals wait for the sync; a failed sync fails them", async () => {
  const { syncs, sync } = manualSync();
  const connection = new SqliteConnection(":memory:");
  connection.migrate();
  const writer = new GroupCommit(connection, new CommitSync(sync));
  const challenge = {
    nonce: "n1",
    kind: "token_challenge" as const,
    subject: "did:agent:example.com:00",
    expiresAt: new Date(Date.now() + 60_000),
  };
  const created = watch(writer.submit("createChallenge", [challenge]));
  const duplicate = watch(writer.submit("createChallenge", [challenge]));
  await settle();
  // Committed (readable) but not durable: nobody has heard back.
  assert.equal(created.done, false);
  assert.equal(duplicate.done, false);
  assert.equal(syncs.length, 1);
  syncs[0]!.finish();
  await settle();
  assert.equal(created.done, true);
  assert.equal(created.error, undefined);
  assert.equal((duplicate.error as Error)?.name, "DuplicateError");

  const later = watch(
    writer.submit("createChallenge", [{ ...challenge, nonce: "n2" }]),
  );
  await settle();
  syncs[1]!.fail(new Error("EIO"));
  await settle();
  assert.match(String(later.error), /write-ahead log failed/);
  await writer.close();
  connection.close();
});

Deno.test("sqlite store: a file database syncs its WAL off the event loop and holds writes until then", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-wal-sync-" });
  try {
    const path = `${dir}/auth4agent.db`;
    const { syncs, sync } = manualSync();
    const synced: string[] = [];
    const store = new SqliteStore(path, {
      syncFile: (file) => {
        synced.push(file);
        return sync();
      },
    });
    const expiresAt = new Date(Date.now() + 60_000);
    const writes = Array.from(
      { length: 20 },
      (_, i) =>
        watch(store.createChallenge({
          nonce: `n${i}`,
          kind: "request_nonce",
          subject: "",
          expiresAt,
        })),
    );
    await settle();
    assert.equal(syncs.length, 1, "one sync for the whole batch");
    assert.ok(synced[0]!.endsWith("auth4agent.db-wal"), synced[0]);
    assert.ok(writes.every((w) => !w.done), "held until the sync finishes");
    const durable = watch(store.durable());
    await settle();
    assert.equal(durable.done, false);
    syncs[0]!.finish();
    await settle();
    assert.ok(writes.every((w) => w.done && w.error === undefined));
    assert.equal(durable.done, true);
    // The real sync runs on the file, and another connection sees the rows.
    const syncer = new FileSyncer(synced[0]!);
    await syncer.sync();
    await syncer.sync();
    await syncer.close();
    const other = new DatabaseSync(path);
    const row = other.prepare("SELECT count(*) AS n FROM challenges").get();
    other.close();
    assert.equal(Number(row!.n), 20);
    await store.close();
    // In memory there is no WAL: COMMIT is all there is, nothing to wait for.
    const memory = new SqliteStore(":memory:", { syncFile: sync });
    await memory.createChallenge({
      nonce: "m",
      kind: "request_nonce",
      subject: "",
      expiresAt,
    });
    await memory.durable();
    assert.equal(syncs.length, 1);
    await memory.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: a status index reservation is held until its WAL sync, like every write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-wal-sync-" });
  try {
    const { syncs, sync } = manualSync();
    const store = new SqliteStore(`${dir}/auth4agent.db`, { syncFile: sync });
    const reserved = watch(store.reserveStatusIndexes(100));
    await settle();
    assert.equal(syncs.length, 1);
    assert.equal(reserved.done, false, "held until the sync finishes");
    syncs[0]!.finish();
    await settle();
    assert.deepEqual(reserved, { done: true, value: 0 });
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
