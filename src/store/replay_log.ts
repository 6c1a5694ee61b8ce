/**
 * The SQLite store's replay cache: every single use (a client's assertion
 * `jti`, until it expires) is appended to `replay_log`, in the order of its
 * `seq`, and judged against the connection's memory of the uses in force
 * (replay_memory.ts) instead of a unique index, whose random pages cost a
 * WAL page per token (bench/README.md). It stays one cache for every server
 * on the file: a use is judged inside the write transaction (BEGIN IMMEDIATE
 * holds the database's one write lock), after the memory has taken in what
 * other connections appended since (their `seq`s, from the counter in
 * `replay_log_next`, which only grows). Memory changes only once the
 * transaction commits; a write undone, or a batch rolled back, leaves none.
 * The first use after opening reads the whole log (and the `replay` table
 * of earlier versions), so a restart forgets nothing written.
 */
import { ms, type Row } from "./rows.ts";
import { ReplayMemory, type UseKey } from "./replay_memory.ts";
import type { SqliteConnection } from "./sqlite_connection.ts";

interface Appended {
  key: UseKey;
  expiresAt: Date;
}

export class ReplayLog {
  readonly #memory = new ReplayMemory();
  /** The `seq` up to which (exclusive) the memory holds the log; 0: nothing read yet. */
  #known = 0;
  /** In the open transaction: the next `seq` to append at, once read. */
  #next?: number;
  /** In the open transaction: what it appended, for the memory at commit. */
  #appended: Appended[] = [];

  /**
   * Uses `jti` for `clientId` until `expiresAt`: false when it was used
   * before (and not swept since). Only inside a write transaction.
   */
  consume(
    c: SqliteConnection,
    clientId: string,
    jti: string,
    expiresAt: Date,
  ): boolean {
    if (!c.db.isTransaction) {
      throw new Error("a single use is judged inside a write transaction");
    }
    const next = this.#next ?? this.#catchUp(c);
    const key = this.#memory.key(clientId, jti);
    if (
      this.#memory.has(key) ||
      this.#appended.some((use) => use.key.a === key.a && use.key.b === key.b)
    ) return false;
    c.stmt(
      "INSERT INTO replay_log (seq, client_id, jti, expires_at) VALUES (?, ?, ?, ?)",
    ).run(next, clientId, jti, ms(expiresAt));
    this.#next = next + 1;
    this.#appended.push({ key, expiresAt });
    return true;
  }

  /** How much a write undone alone must take back (runIsolated's savepoints). */
  mark(): number {
    return this.#appended.length;
  }

  /** Takes back what was appended since `mark` (its rows are rolled back). */
  undoTo(mark: number): void {
    this.#appended.length = mark;
  }

  /** Before COMMIT: the counter moves past what this transaction appended. */
  beforeCommit(c: SqliteConnection): void {
    if (this.#appended.length === 0) return;
    c.stmt("UPDATE replay_log_next SET next = ?").run(this.#next!);
  }

  /** After COMMIT: what the transaction appended is in force. */
  committed(): void {
    if (this.#next !== undefined) this.#known = this.#next;
    for (const use of this.#appended) {
      this.#memory.add(use.key, use.expiresAt);
    }
    this.#endTransaction();
  }

  /** After ROLLBACK: nothing of the transaction was. */
  rolledBack(): void {
    this.#endTransaction();
  }

  /** The store's sweep deleted the uses expired by `now`: forgotten here too. */
  forgetExpired(now: Date): void {
    this.#memory.forgetExpired(now);
  }

  #endTransaction(): void {
    this.#next = undefined;
    this.#appended = [];
  }

  /**
   * Under the write lock: takes in the uses other connections appended
   * since this one last looked (all of them, the first time) and returns
   * where this transaction appends.
   */
  #catchUp(c: SqliteConnection): number {
    const { next } = c.stmt("SELECT next FROM replay_log_next").get() as {
      next: number;
    };
    if (next !== this.#known) {
      if (this.#known === 0) {
        this.#takeIn(
          c.stmt("SELECT client_id, jti, expires_at FROM replay")
            .all() as Row[],
        );
      }
      this.#takeIn(
        c.stmt(
          "SELECT client_id, jti, expires_at FROM replay_log WHERE seq >= ? AND seq < ?",
        ).all(this.#known, next) as Row[],
      );
    }
    // Others' uses are committed: known from now on, whatever this does.
    this.#known = next;
    this.#next = next;
    return next;
  }

  #takeIn(rows: Row[]): void {
    for (const row of rows) {
      this.#memory.add(
        this.#memory.key(String(row.client_id), String(row.jti)),
        new Date(Number(row.expires_at)),
      );
    }
  }
}
