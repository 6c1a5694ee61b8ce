/**
 * The store conformance suite on SQLite: in memory (one instance) and in a
 * temporary file (two instances on one file, reopening, schema versions).
 */
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { storeConformance } from "./conformance.ts";

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
