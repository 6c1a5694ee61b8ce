/**
 * Making WAL commits durable off the event loop.
 *
 * With `synchronous=FULL`, SQLite fsyncs the WAL inside COMMIT, and the event
 * loop (every request of the server) waits for the disk: ≈ 0.4 ms per group
 * commit here, up to 13 ms on a bad minute (bench/README.md). Instead the
 * write connection runs with `synchronous=NORMAL` — COMMIT appends the
 * transaction's frames to the WAL, consistent but not yet synced — and this
 * class fdatasyncs the WAL file on Deno's blocking thread pool. A commit
 * counts as durable only once a sync that started after it has finished: the
 * same guarantee as FULL (one sync of the WAL after the commit's frames), and
 * the requests that arrive meanwhile keep being served. Commits made while a
 * sync runs share the next one.
 *
 * Readers can see a commit before it is durable, so the server answers no
 * request (success or refusal) before every commit it may rest on is durable:
 * the app awaits `durable()` for every answer but those resting on their own
 * acknowledged write (src/serve/durability.ts).
 *
 * A failed sync is final: the kernel may have dropped the dirty pages (the
 * "fsyncgate" lesson), so nothing can be acknowledged any more; every later
 * call rejects with the error, and the operator restarts the server.
 */

interface Waiter {
  /** The commit count this caller waits for. */
  upTo: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const DONE = Promise.resolve();

export class CommitSync {
  readonly #sync: () => Promise<void>;
  #committed = 0;
  #synced = 0;
  #waiters: Waiter[] = [];
  #running = false;
  #failed?: Error;

  /** `sync` makes every write issued to the file so far durable (fdatasync). */
  constructor(sync: () => Promise<void>) {
    this.#sync = sync;
  }

  /** Counts a COMMIT that has just returned (its frames are in the WAL). */
  committed(): void {
    this.#committed++;
  }

  /** Resolves once every commit counted so far is durable. */
  durable(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    const upTo = this.#committed;
    if (this.#synced >= upTo) return DONE;
    return new Promise((resolve, reject) => {
      this.#waiters.push({ upTo, resolve, reject });
      if (!this.#running) this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#synced < this.#committed) {
      const covering = this.#committed;
      try {
        await this.#sync();
      } catch (cause) {
        this.#failed = new Error(
          `syncing the database's write-ahead log failed; writes can no longer be acknowledged, restart the server: ${cause}`,
          { cause },
        );
        for (const waiter of this.#waiters) waiter.reject(this.#failed);
        this.#waiters = [];
        break;
      }
      this.#synced = covering;
      const waiting: Waiter[] = [];
      for (const waiter of this.#waiters) {
        if (waiter.upTo <= covering) waiter.resolve();
        else waiting.push(waiter);
      }
      this.#waiters = waiting;
    }
    this.#running = false;
  }
}

/**
 * fdatasync of the file at `path`, through one descriptor opened on first use
 * (opening it per sync cost more than the sync: Deno checks permissions and
 * resolves the path on the event loop). It stays the WAL: SQLite removes the
 * WAL only when the last connection closes, and this store's stays open.
 */
export class FileSyncer {
  readonly #path: string;
  #file?: Promise<Deno.FsFile>;

  constructor(path: string) {
    this.#path = path;
  }

  async sync(): Promise<void> {
    this.#file ??= Deno.open(this.#path, { read: true });
    await (await this.#file).syncData();
  }

  async close(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    if (file) (await file.catch(() => undefined))?.close();
  }
}
