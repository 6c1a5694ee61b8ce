/**
 * The one place that turns `--db` into a store: a `postgres://` or
 * `postgresql://` URL opens PostgreSQL (several `serve` instances may share
 * it); anything else is a SQLite file path.
 */
import { PostgresStore, redactPostgresUrl } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

export function isPostgresUrl(db: string): boolean {
  return POSTGRES_URL.test(db);
}

/**
 * Opens (and migrates) the store that `db` names; `create: false` refuses a
 * SQLite file that does not exist (for commands that only read it);
 * `serving`: a server's, which reads what its requests need first (SQLite's
 * replay log) before it answers any.
 */
export async function openStore(
  db: string,
  options: { create?: boolean; serving?: boolean } = {},
): Promise<Store> {
  return isPostgresUrl(db)
    ? await PostgresStore.open(db)
    : new SqliteStore(db, options);
}

/** `db` as it may be logged or shown: a URL's password is masked. */
export function describeDb(db: string): string {
  return isPostgresUrl(db) ? redactPostgresUrl(db) : db;
}
