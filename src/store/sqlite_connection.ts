/**
 * One SQLite connection through the built-in `node:sqlite`: WAL mode with
 * `synchronous=FULL` (a commit is on disk before it returns) unless the store
 * takes over the syncing (wal_sync.ts), a cache of prepared statements, and
 * the schema migrations.
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { Auth4AgentError } from "../core/errors.ts";
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  SQLITE_AFTER_MIGRATION,
} from "./migrations.ts";
import type { Row } from "./rows.ts";
import { DuplicateError } from "./store.ts";
import { ReplayLog } from "./replay_log.ts";

export class SqliteConnection {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, ReturnType<DatabaseSync["prepare"]>>();
  /**
   * The audit chain's head as written in the open transaction, so a batch
   * reads it once; undefined outside a batch, or after a rolled-back write.
   */
  auditHead?: { seq: number; hash: string };
  /** The replay cache's log and this connection's memory of it. */
  readonly replay = new ReplayLog();

  constructor(path: string) {
    try {
      this.db = new DatabaseSync(path);
      this.db.exec("PRAGMA busy_timeout = 5000");
      if (path !== ":memory:") this.db.exec("PRAGMA journal_mode = WAL");
    } catch (error) {
      // Not a database, or not one SQLite can open: the operator's --db.
      throw new Auth4AgentError(
        "ERR_CONFIG",
        `cannot open the database ${path}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    this.db.exec("PRAGMA synchronous = FULL");
    // No checkpoints inside commits: the checkpointer thread copies the WAL
    // back (sqlite_checkpointer.ts), off the event loop.
    this.db.exec("PRAGMA wal_autocheckpoint = 0");
    this.db.exec("PRAGMA foreign_keys = ON");
  }

  /** The WAL file's path, or undefined when the database is not in WAL mode (in memory). */
  walFile(): string | undefined {
    const mode = this.db.prepare("PRAGMA journal_mode").get() as Row;
    if (String(mode.journal_mode).toLowerCase() !== "wal") return undefined;
    const main = (this.db.prepare("PRAGMA database_list").all() as Row[])
      .find((row) => row.name === "main");
    return main?.file ? `${main.file}-wal` : undefined;
  }

  stmt(sql: string) {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs an INSERT, turning a unique-key conflict into DuplicateError. */
  insert(sql: string, ...params: SQLInputValue[]): void {
    try {
      this.stmt(sql).run(...params);
    } catch (error) {
      if (/UNIQUE constraint failed|PRIMARY KEY/i.test(String(error))) {
        throw new DuplicateError(String(error));
      }
      throw error;
    }
  }

  /**
   * Applies the migrations this database lacks, one transaction each; a
   * database newer than this code refuses to open.
   */
  migrate(): void {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    );
    const row = this.db.prepare("SELECT version FROM schema_version").get() as
      | Row
      | undefined;
    const current = row ? Number(row.version) : 0;
    if (current > SCHEMA_VERSION) {
      throw new Auth4AgentError(
        "ERR_CONFIG",
        `database schema version ${current} is newer than this auth4agent (${SCHEMA_VERSION}); upgrade auth4agent`,
      );
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        this.db.exec(MIGRATIONS[version - 1]!);
        const after = SQLITE_AFTER_MIGRATION[version];
        if (after) this.db.exec(after);
        this.db.exec("DELETE FROM schema_version");
        this.db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(
          version,
        );
        this.db.exec("COMMIT");
      } catch (error) {
        this.db.exec("ROLLBACK");
        throw error;
      }
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
