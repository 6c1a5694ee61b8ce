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
 * The store reads the whole log when it opens (load), outside the lock; if
 * memory is ever lost, the next use reads it again.
 */
import { ms, type Row } from "./rows.ts";
import { ReplayMemory, type UseKey } from "./replay_memory.ts";
import type { SqliteConnection } from "./sqlite_connection.ts";

interface Appended {
  key: UseKey;
  expiresAt: Date;
}

/**
 * 53 of a key's 64 bits, exact in a number: within one transaction two uses
 * that share them (a chance of n² / 2^54) make the second a refusal.
 */
const batchKey = (key: UseKey) => key.a * 0x20_0000 + (key.b & 0x1f_ffff);

export class ReplayLog {
  #memory = new ReplayMemory();
  /** The `seq` up to which (exclusive) the memory holds the log; 0: nothing read. */
  #known = 0;
  /** In the open transaction, once read: the counter as found, and the next `seq` to append at. */
  #base?: number;
  #next?: number;
  /** In the open transaction: what it appended, for the memory at commit. */
  #appended: Appended[] = [];
  #appendedKeys = new Set<number>();

  /**
   * Reads the whole log into memory, in a read transaction of its own: done
   * when the store opens, so that the first use does not read it under the
   * write lock (every other server's writes would wait).
   */
  load(c: SqliteConnection): void {
    if (c.db.isTransaction) return;
    c.db.exec("BEGIN");
    try {
      this.#known = 0;
      this.#readLog(c);
    } finally {
      c.db.exec("COMMIT");
    }
  }

  /**
   * Uses `jti` for `clientId` until `expiresAt`: false when it was used
   * before (and not swept since), or expires by what a sweep already
   * forgot. Only inside a write transaction.
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
    if (this.#memory.forgot(expiresAt)) return false;
    const key = this.#memory.key(clientId, jti);
    if (this.#memory.has(key) || this.#appendedKeys.has(batchKey(key))) {
      return false;
    }
    c.stmt(
      "INSERT INTO replay_log (seq, client_id, jti, expires_at) VALUES (?, ?, ?, ?)",
    ).run(next, clientId, jti, ms(expiresAt));
    this.#next = next + 1;
    this.#appended.push({ key, expiresAt });
    this.#appendedKeys.add(batchKey(key));
    return true;
  }

  /** How much a write undone alone must take back (runIsolated's savepoints). */
  mark(): number {
    return this.#appended.length;
  }

  /** Takes back what was appended since `mark` (its rows are rolled back). */
  undoTo(mark: number): void {
    if (mark === this.#appended.length) return;
    this.#appended.length = mark;
    this.#appendedKeys = new Set(
      this.#appended.map((use) => batchKey(use.key)),
    );
  }

  /**
   * Before COMMIT: the counter moves past every `seq` this transaction
   * took, its undone uses' too, so that the `seq`s this connection counts
   * as seen are the ones the counter says were given out.
   */
  beforeCommit(c: SqliteConnection): void {
    if (this.#next !== undefined && this.#next !== this.#base) {
      c.stmt("UPDATE replay_log_next SET next = ?").run(this.#next);
    }
    this.#memory.reserve(this.#appended.length);
  }

  /** After COMMIT: what the transaction appended is in force. */
  committed(): void {
    try {
      for (const use of this.#appended) {
        this.#memory.add(use.key, use.expiresAt);
      }
      if (this.#next !== undefined) this.#known = this.#next;
    } catch (error) {
      // Committed but not all in memory: forget everything, so that the
      // next use reads the log again rather than miss one.
      this.#memory = new ReplayMemory();
      this.#known = 0;
      throw error;
    } finally {
      this.#endTransaction();
    }
  }

  /** After ROLLBACK: nothing of the transaction was. */
  rolledBack(): void {
    this.#endTransaction();
  }

  /**
   * The store's sweep deletes the uses expired by `now`: forgotten here at
   * once, and by every other server at its next use (the horizon is kept
   * with the counter). Inside the sweep's write transaction.
   */
  forgetExpired(c: SqliteConnection, now: Date): void {
    c.stmt(
      "UPDATE replay_log_next SET swept_up_to = max(swept_up_to, ?)",
    ).run(ms(now));
    this.#memory.forgetExpired(now);
  }

  #endTransaction(): void {
    this.#base = undefined;
    this.#next = undefined;
    this.#appended = [];
    this.#appendedKeys.clear();
  }

  /**
   * Under the write lock: takes in the uses other connections appended
   * since this one last looked (all of them, if it never did) and returns
   * where this transaction appends.
   */
  #catchUp(c: SqliteConnection): number {
    const next = this.#readLog(c);
    this.#base = next;
    this.#next = next;
    return next;
  }

  /**
   * Takes in the log from where the memory holds it to the counter (all of
   * it, into a fresh memory, when nothing was read) and returns the counter.
   */
  #readLog(c: SqliteConnection): number {
    if (this.#known === 0) this.#memory = new ReplayMemory();
    const next = this.#counter(c);
    if (next !== this.#known) this.#takeIn(c, this.#known, next);
    // Others' uses are committed: known from now on, whatever this does.
    this.#known = next;
    return next;
  }

  /** The next `seq`; and what any server's sweep forgot is forgotten here too. */
  #counter(c: SqliteConnection): number {
    const row = c.stmt("SELECT next, swept_up_to FROM replay_log_next")
      .get() as Row;
    this.#memory.forgetExpired(new Date(Number(row.swept_up_to)));
    return Number(row.next);
  }

  #takeIn(c: SqliteConnection, from: number, to: number): void {
    const rows = c.stmt(
      "SELECT client_id, jti, expires_at FROM replay_log WHERE seq >= ? AND seq < ?",
    ).iterate(from, to) as Iterable<Row>;
    for (const row of rows) {
      this.#memory.add(
        this.#memory.key(String(row.client_id), String(row.jti)),
        new Date(Number(row.expires_at)),
      );
    }
  }
}
