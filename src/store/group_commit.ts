/**
 * Group commit on one connection: writes from concurrent requests run in one
 * transaction (a write that fails is undone alone: runBatch), and every
 * caller hears back only once the COMMIT is durable (at once with
 * synchronous=FULL, or after the CommitSync's fdatasync of the WAL), so
 * nothing is acknowledged before it is on disk. One sync serves the whole
 * batch.
 */
import { setImmediate } from "node:timers";
import type { SqliteConnection } from "./sqlite_connection.ts";
import type { CommitSync } from "./wal_sync.ts";
import {
  type WriteArgs,
  type WriteName,
  type WriteResult,
  WRITES,
} from "./sqlite_writes.ts";

interface Write {
  name: WriteName;
  args: unknown[];
}

type Outcome = { ok: true; value: unknown } | {
  ok: false;
  error: unknown;
};

function apply(c: SqliteConnection, { name, args }: Write): unknown {
  const write = WRITES[name] as (
    c: SqliteConnection,
    ...args: unknown[]
  ) => unknown;
  return write(c, ...args);
}

/** Each write in its own savepoint: one that throws is undone alone, and reported. */
function runIsolated(
  c: SqliteConnection,
  writes: readonly Write[],
): Outcome[] {
  // Prepared once per connection: exec() would parse these on every write.
  const savepoint = c.stmt("SAVEPOINT write");
  const release = c.stmt("RELEASE write");
  const rollbackTo = c.stmt("ROLLBACK TO write");
  return writes.map((write) => {
    savepoint.run();
    const replayMark = c.replay.mark();
    try {
      const value = apply(c, write);
      release.run();
      return { ok: true, value };
    } catch (error) {
      rollbackTo.run();
      release.run();
      c.auditHead = undefined; // the write's audit entry, if any, is gone
      c.replay.undoTo(replayMark); // and its single use
      return { ok: false, error };
    }
  });
}

/**
 * Runs a batch of writes in one transaction; throws only if the transaction
 * itself fails. The writes first run back to back, without savepoints (they
 * cost about a fifth of a token's SQLite time). A write that throws is rare —
 * a duplicate key — and then the transaction is rolled back and the batch run
 * again with a savepoint around each write (the writes are functions of their
 * arguments and the database, so a second run does the same), which undoes
 * the failing write alone.
 */
function runBatch(
  c: SqliteConnection,
  writes: readonly Write[],
): Outcome[] {
  try {
    c.db.exec("BEGIN IMMEDIATE");
    c.auditHead = undefined;
    let outcomes: Outcome[];
    try {
      outcomes = writes.map((write) => ({ ok: true, value: apply(c, write) }));
    } catch {
      // SQLite may have rolled back already (SQLITE_FULL): then the rerun's
      // own failure says why.
      if (c.db.isTransaction) c.db.exec("ROLLBACK");
      c.auditHead = undefined;
      c.replay.rolledBack();
      c.db.exec("BEGIN IMMEDIATE");
      outcomes = runIsolated(c, writes);
    }
    c.replay.beforeCommit(c);
    c.db.exec("COMMIT");
    c.replay.committed();
    return outcomes;
  } catch (error) {
    c.auditHead = undefined;
    if (c.db.isTransaction) c.db.exec("ROLLBACK");
    c.replay.rolledBack();
    throw error;
  }
}

interface Pending extends Write {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The batch is what arrived during one loop turn. */
export class GroupCommit {
  readonly #c: SqliteConnection;
  readonly #commits?: CommitSync;
  readonly #afterBatch?: (names: readonly WriteName[]) => void;
  #pending: Pending[] = [];
  #held = false;

  /**
   * Without `commits`, COMMIT itself must be durable (synchronous=FULL).
   * `afterBatch` hears the names of a batch's writes right after its
   * transaction ended (committed or not), before any other code runs.
   */
  constructor(
    connection: SqliteConnection,
    commits?: CommitSync,
    afterBatch?: (names: readonly WriteName[]) => void,
  ) {
    this.#c = connection;
    this.#commits = commits;
    this.#afterBatch = afterBatch;
  }

  submit<K extends WriteName>(
    name: K,
    args: WriteArgs<K>,
  ): Promise<WriteResult<K>> {
    return new Promise((resolve, reject) => {
      this.#pending.push({
        name,
        args,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      // setImmediate runs after the I/O callbacks of this loop turn, so the
      // writes of every request that arrived meanwhile join the batch
      // (setTimeout(0) measured 2 ms here, setImmediate 3 µs).
      if (this.#pending.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Commits nothing until resume() (writes queue up), for a checkpoint to catch up. */
  hold(): void {
    this.#held = true;
  }

  resume(): void {
    if (!this.#held) return;
    this.#held = false;
    if (this.#pending.length > 0) setImmediate(() => this.flush());
  }

  flush(): void {
    const batch = this.#pending;
    if (batch.length === 0 || this.#held) return;
    this.#pending = [];
    let outcomes: Outcome[];
    try {
      outcomes = runBatch(this.#c, batch);
    } catch (error) {
      for (const { reject } of batch) reject(error);
      return;
    } finally {
      this.#afterBatch?.(batch.map(({ name }) => name));
    }
    const settle = () =>
      batch.forEach(({ resolve, reject }, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) resolve(outcome.value);
        else reject(outcome.error);
      });
    if (!this.#commits) return settle();
    this.#commits.committed();
    // Refusals wait too: they may rest on rows that are not durable yet.
    this.#commits.durable().then(
      settle,
      (error) => batch.forEach(({ reject }) => reject(error)),
    );
  }

  /** Flushes what is pending and waits until every commit is durable. */
  async close(): Promise<void> {
    this.#held = false;
    this.flush();
    await this.#commits?.durable().catch(() => {});
  }
}
