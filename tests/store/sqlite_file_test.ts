/**
 * The SQLite database file may hold the signing keys in plaintext: a new one
 * (with its -wal and -shm) is readable by its owner alone, an existing one
 * others can read is refused and left as it is, and a missing one is not
 * created by commands that only read (src/store/sqlite_file.ts).
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { runCli } from "../helpers/in_process.ts";

const code = (expected: string) => (error: unknown) =>
  error instanceof Auth4AgentError && error.code === expected;

async function inTempDir(work: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "a4a-db-file-" });
  try {
    await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const modeOf = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test("sqlite file: a new database, its -wal and -shm are 0600 (the usual umask 022 alone would leave them 0644)", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/issuer.db`;
    const store = new SqliteStore(path);
    try {
      await store.appendAudit({
        at: new Date(),
        actor: "issuer",
        action: "test",
        target: "x",
        outcome: "success",
      });
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        assert.equal(modeOf(file), 0o600, file);
      }
    } finally {
      await store.close();
    }
  });
});

Deno.test("sqlite file: an existing database others can read is refused, and not changed", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/issuer.db`;
    await new SqliteStore(path).close();
    const before = await Deno.readFile(path);
    Deno.chmodSync(path, 0o644);
    assert.throws(() => new SqliteStore(path), code("ERR_CONFIG"));
    assert.equal(modeOf(path), 0o644);
    assert.deepEqual(await Deno.readFile(path), before);
    Deno.chmodSync(path, 0o600);
    await new SqliteStore(path).close();
  });
});

Deno.test("sqlite file: audit verify and keys list on a missing --db create nothing; a file that is no database is ERR_CONFIG", async () => {
  await inTempDir(async (dir) => {
    const missing = `${dir}/typo.db`;
    for (
      const args of [
        ["audit", "verify", "--db", missing, "--json"],
        ["audit", "list", "--db", missing, "--json"],
        ["serve", "keys", "list", "--db", missing, "--json"],
      ]
    ) {
      const run = await runCli(["--home", dir, ...args]);
      assert.equal(run.exit, 2, run.stderr);
      assert.equal(JSON.parse(run.stderr).error.code, "ERR_CONFIG");
      await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);
    }
    const text = `${dir}/notes.txt`;
    await Deno.writeTextFile(text, "not a database\n".repeat(100), {
      mode: 0o600,
    });
    const run = await runCli([
      "--home",
      dir,
      "audit",
      "verify",
      "--db",
      text,
      "--json",
    ]);
    assert.equal(run.exit, 2, run.stderr);
    assert.equal(JSON.parse(run.stderr).error.code, "ERR_CONFIG");
  });
});
